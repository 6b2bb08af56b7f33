"""What the process runs on: the thread pool, the CPU quota, memory, caches and failpoints."""
