"""Image folders that would train to a meaningless result, or crash, are refused or skipped."""


import pytest

from lineage import train
from tests.test_input_faults import folder, folder_config


@pytest.mark.parametrize(
    'counts',
    [
        {'train': {'cat': 8}, 'test': {'cat': 2}},  # one class folder
        {'train': {'cat': 8, 'dog': 0}, 'test': {'cat': 2, 'dog': 2}},  # two, one of them empty
    ],
)
def test_one_class_is_refused_in_one_line(tmp_path, counts):
    folder(tmp_path / 'data', counts)
    workdir = tmp_path / 'run'
    with pytest.raises(ValueError) as error:
        train.train_and_evaluate(folder_config(tmp_path / 'data'), str(workdir))
    assert str(error.value) == (
        f"image folder '{tmp_path / 'data'}' has train images of one class only ('cat'); a "
        'classifier needs two or more: give each class a folder of images under train/'
    )
    assert not workdir.exists()
