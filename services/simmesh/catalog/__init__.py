"""The catalog: similarity types, tasks, groups, training images, training and deploy."""
