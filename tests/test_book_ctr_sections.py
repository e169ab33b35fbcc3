"""The book's CTR, FM and DeepFM sections run as printed with ``d2l.``
turned into ``rs.``: the data set named in ``DATA_HUB`` and fetched with
``download_extract`` (here from a local copy, offline), ``CTRDataset``,
the DataLoaders, and ``train_ch13`` over the book-shaped blocks (a sigmoid
output, ``(B, 1)`` labels)."""
import os

import pytest
from mxnet import gluon, init

import d2l_recsys as rs
from d2l_recsys.data.synthetic_ctr import make_ctr

SHA1 = 'e18327c48c8e8e5c23da714dd614e390d369843f'   # the book's ctr.zip


@pytest.fixture
def ctr_copy(tmp_path, monkeypatch):
    folder = tmp_path / 'ctr'
    make_ctr(str(folder), num_rows=9000, num_test=3000, seed=1)  # the book: 3,000 test lines
    monkeypatch.setenv('D2L_RECSYS_CTR', str(folder))
    return str(folder)


def test_the_hub_entry_is_the_books_and_names_the_local_copy(ctr_copy):
    rs.DATA_HUB['ctr'] = (rs.DATA_URL + 'ctr.zip', SHA1)    # as printed
    data_dir = rs.download_extract('ctr')
    assert os.path.samefile(data_dir, ctr_copy)
    with pytest.raises(KeyError, match="'ctr2' is not in DATA_HUB"):
        rs.download_extract('ctr2')


@pytest.mark.parametrize('model', ['fm', 'deepfm'])
def test_the_sections_code_as_printed(ctr_copy, model):
    rs.DATA_HUB['ctr'] = (rs.DATA_URL + 'ctr.zip', SHA1)
    data_dir = rs.download_extract('ctr')
    batch_size = 2048
    train_data = rs.CTRDataset(os.path.join(data_dir, 'train.csv'))
    test_data = rs.CTRDataset(os.path.join(data_dir, 'test.csv'),
                              feat_mapper=train_data.feat_mapper,
                              defaults=train_data.defaults)
    train_iter = gluon.data.DataLoader(
        train_data, shuffle=True, last_batch='rollover',
        batch_size=batch_size, num_workers=rs.get_dataloader_workers())
    test_iter = gluon.data.DataLoader(
        test_data, shuffle=False, last_batch='rollover',
        batch_size=batch_size, num_workers=rs.get_dataloader_workers())
    devices = rs.try_all_gpus()
    if model == 'fm':       # the book: k=20, lr 0.02
        net = rs.FM(train_data.field_dims, num_factors=20, sigmoid=True)
        lr = 0.02
    else:                   # k=10, MLP 30-20-10 with dropout 0.1, lr 0.01
        net = rs.DeepFM(train_data.field_dims, num_factors=10,
                        mlp_dims=[30, 20, 10], sigmoid=True)
        lr = 0.01
    net.initialize(init.Xavier(), ctx=devices)
    trainer = gluon.Trainer(net.collect_params(), 'adam',
                            {'learning_rate': lr})
    loss = gluon.loss.SigmoidBinaryCrossEntropyLoss()
    with pytest.warns(UserWarning, match='sigmoid again'):
        history = rs.train_ch13(net, train_iter, test_iter, loss, trainer,
                                2, devices)
    assert [h['epoch'] for h in history] == [1, 2]
    # the book's double sigmoid trains too (its loss falls), and the scores
    # are read as probabilities: a log loss and an AUC come out
    assert history[1]['train_loss'] < history[0]['train_loss']
    assert 0 <= history[-1]['auc'] <= 1 and history[-1]['log_loss'] > 0


def test_a_run_reads_as_many_fields_as_the_files_have(tmp_path):
    """``d2l-recsys train fm --ctr-dir`` on CTR files of other than the
    book's 34 fields (ML-1M's shape has 25)."""
    from d2l_recsys.runs import run
    folder = str(tmp_path / 'ctr25')
    make_ctr(folder, num_rows=1200, num_test=200, num_fields=25, seed=3)
    res = run('fm', ctr_dir=folder, epochs=1, devices='cpu', verbose=False)
    assert res['num_fields'] == 25 and res['num_test'] == 200
