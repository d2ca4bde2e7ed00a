"""Pure ``nn.Module`` networks: constructors take plain numbers, nothing here knows about training."""
