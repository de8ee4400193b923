from ernie_m.cli import main

main()
