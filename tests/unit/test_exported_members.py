"""The public surface is curated: everything in ``octollm.__all__`` exists, and nothing public
is exported by accident."""

import octollm


def test_all_names_in_dunder_all_exist() -> None:
    for name in octollm.__all__:
        assert hasattr(octollm, name), name


def test_every_public_attribute_is_listed_in_dunder_all() -> None:
    public = {
        name for name, value in vars(octollm).items()
        if not name.startswith("_") and not getattr(value, "__name__", "").startswith("octollm.")
    }
    assert public <= set(octollm.__all__), public - set(octollm.__all__)
