"""One render, end to end: scene -> transfer matrix -> dose -> metrics -> result files."""
