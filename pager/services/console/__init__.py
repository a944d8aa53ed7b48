"""The web console's sessions and logins (docs/console.md)."""
