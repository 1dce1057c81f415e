"""Style service: name a product garment's colour × pattern class (docs/design.md §1 step 2).

- ``model``: StyleNet, the two-headed CNN, and its registry builders.
- ``preprocess`` / ``stage``: pure inference (crop, mask, letterbox, classify) and the
  choice of translation weights for a label.
- ``dataset`` / ``metrics`` / ``train`` / ``cli``: training on style crops
  (``fittingroom train style``) and evaluation.
- ``adapter`` / ``servicer`` / ``service``: the gRPC and Kafka doors.
"""
