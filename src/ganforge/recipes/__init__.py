"""Training recipes: one module per paper family; each exposes validate(cfg), build_models(cfg), build(cfg, device)."""
