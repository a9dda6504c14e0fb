"""The operators' API under ``/admin``, behind the admin key."""
