"""The model: loading it, chunking long texts, owners taking turns at it."""
