"""Assertions shared by the CLI tests (importable: pytest puts tests/ on sys.path via conftest)."""


def one_error_line(result, message):
    """A failed command printed exactly one `Error` line holding `message`, no traceback."""
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(errors) == 1, result.output
    assert message in errors[0], errors[0]
