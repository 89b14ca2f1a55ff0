"""Fine-tune jobs: the job store, validation, the queue and the worker.

Only the worker's side (``runner``, through ``nuner.app.tagger_builder``, and
``worker.warm_up``) imports training and export, lazily: the API stays
torch-free (the ``torch-free`` contract in ``.importlinter`` checks it).
"""
