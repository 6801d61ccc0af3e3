# The two commands of the README, and a few more.
.PHONY: demo test bench lambdas stack-up stack-down

demo:          ## the schema-evolution demo end to end on the local stack
	bash scripts/demo.sh $(ARGS)

test:          ## every test (installs what it needs)
	bash scripts/test.sh

bench:         ## benchmarks: core, producer, consumer, whole pipeline
	bash scripts/bench-core.sh
	bash scripts/bench-producer.sh
	bash scripts/bench-consumer.sh
	.venv/bin/python scripts/bench-pipeline.py 10000

lambdas:       ## Lambda zips where Terraform expects them
	bash scripts/build-lambdas.sh

stack-up:      ## start the local two-account stack (scripts/stack.sh up)
	bash scripts/stack.sh up

stack-down:    ## stop it
	bash scripts/stack.sh down
