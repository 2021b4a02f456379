"""SCALe-SFT: Scheduled Curriculum Adaptive Loss for chain-of-thought VLM fine-tuning."""

__version__ = "0.1.0"
