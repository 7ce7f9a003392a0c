from session_import.cli import main

main()
