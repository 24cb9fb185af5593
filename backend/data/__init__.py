"""Datasets: archives, COCO/YOLO preparation, data-quality checks, the demo generator, DVC versions, the dataset
service, and the data jobs (tasks: demo, import, validate, each with its start function and crash recovery).
"""
