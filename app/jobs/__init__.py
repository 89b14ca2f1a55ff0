"""Fine-tune jobs: the job store, validation, the queue and the worker.

Only ``runner`` imports training and export (lazily): the API stays torch-free.
"""
