from bench.guardrails.run import main

main()
