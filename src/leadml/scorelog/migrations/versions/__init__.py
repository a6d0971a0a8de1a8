"""The score log's migrations, oldest first."""
