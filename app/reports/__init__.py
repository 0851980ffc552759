"""Report jobs and rendering (API.md section 7)."""
