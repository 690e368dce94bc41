"""The local stack: emulator bootstrap, provisioning from template.yaml, event-source runner."""
