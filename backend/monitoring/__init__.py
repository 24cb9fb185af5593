"""Monitoring: Evidently drift reports that compare production traffic with the serving model's training data.

Owns the reference tables (image properties and the model's predictions on a dataset version, computed once and
kept), the current window from the prediction log, the Evidently reports and their tests (alerts), the report
history and drill-down the Monitor page shows, and the traffic simulator that makes drift appear on purpose.
"""
