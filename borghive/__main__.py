from borghive.cli.app import main

main()
