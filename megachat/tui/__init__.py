"""The Textual face of megachat. Import `megachat.tui.app.run_app` lazily: Textual is heavy."""
