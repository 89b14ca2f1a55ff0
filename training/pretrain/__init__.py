"""NuNER contrastive pre-training (METHOD.md section 2): a text encoder and a
concept encoder trained so that token vectors match the concepts they
instantiate; the text encoder becomes a backbone for few-shot taggers."""
