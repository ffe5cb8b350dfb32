"""The engine: pure logic shared by the CLI and the TUI. Never imports Textual."""
