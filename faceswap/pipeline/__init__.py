"""The swap pipeline, one module per stage: decode, detect, select, align, embed, swap, blend, encode."""
