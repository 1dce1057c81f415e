"""``evaluate tryon``'s scoring: a product's own class from its name, and the re-classification rates."""

from fittingroom.cli.evaluate_tryon import PairScore, class_in_name, summarise


def test_a_product_name_gives_its_class_only_when_it_starts_with_one():
    assert class_in_name("red-dots-013") == "red-dots"
    assert class_in_name("black-print-tee") == "black-print"
    assert class_in_name("blue-tee") is None
    assert class_in_name("grace_hopper") is None


def test_reclassification_is_scored_against_the_products_class_and_against_its_name():
    def pair(truth, named, again):
        return PairScore("p", "s", ran=True, product_truth=truth, product_class=named, reclassified=again)

    scores = [
        pair("green-print", "green-solid", "green-print"),  # a print named solid that came through
        pair("red-dots", "red-dots", "red-dots"),
        pair("red-dots", "red-dots", "red-checks"),
        pair(None, "blue-solid", "blue-solid"),  # a product without a class in its name
        PairScore("p", "s", ran=False, error="no_garment", product_truth="red-dots"),
    ]
    summary = summarise(scores)
    assert summary["pairs_with_known_class"] == 3
    assert summary["reclassified_as_product"] == round(2 / 3, 3)
    assert summary["reclassified_as_named"] == 0.5
    assert summary["product_named_right"] == round(2 / 3, 3)
