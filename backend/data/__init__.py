"""Datasets: archives, COCO/YOLO preparation, data-quality checks, the demo generator, DVC versions and the dataset
service.
"""
