"""Long generation beside completions: the job runner, docs text, diagrams and images."""
