"""socialrec GNN recommenders: data, models, training, evaluation, checkpoints."""
