from hereabouts.cli import main

main()
