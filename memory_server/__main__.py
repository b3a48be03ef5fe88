"""`python -m memory_server ...`: the same commands as `memory-server`."""

from memory_server.cli import main

if __name__ == "__main__":
    main()
