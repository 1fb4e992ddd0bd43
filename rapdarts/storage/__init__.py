"""What a run leaves on disk: run directories, atomic writes, locks, checked output paths, cache
directories and figures."""
