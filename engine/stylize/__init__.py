"""Remote stylizers for caricatures: the protocol and shared retry rules (``base``), OpenAI image
edits (``openai_images``) and a Replicate model (``replicate_model``)."""
