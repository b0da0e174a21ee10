from bench.datasets.run import main

main()
