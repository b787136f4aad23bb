"""LSP handlers, one module per area; each registers its features on the server."""
