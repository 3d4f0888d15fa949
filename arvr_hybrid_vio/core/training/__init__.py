"""Training of the VIO networks: data, losses, the Lightning module, validation and replay."""
