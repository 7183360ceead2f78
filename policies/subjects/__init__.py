"""A data subject's rights: legal holds, export and erasure, with their API, commands, tasks and admin."""
