"""The localhost API (Litestar): file_operations, control, memories, tasks, chat. A thin shell over Runtime."""
