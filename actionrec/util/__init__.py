"""Small helpers every part uses: atomic writes, progress lines, percentiles."""
