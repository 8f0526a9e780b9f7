"""The tlo command (placeholder until the CLI lands)."""


def main() -> int:
    """Run the tlo command."""
    return 0
