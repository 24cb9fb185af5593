"""Settings, errors, clock, progress reporting, hyperparameters and the food vocabulary: the bottom layer every other
package may use.
"""
