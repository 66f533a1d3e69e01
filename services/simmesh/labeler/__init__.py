"""The labeler: label by similarity, evaluation and pool mining."""
