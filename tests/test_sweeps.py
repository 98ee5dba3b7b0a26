"""The sweep grids: names, seeds, overrides that name real config fields, matched widths."""

import pytest

from configs import ladder_cifar10, ladder_digits
from experiments.sweeping import estimate, matched_widths, sweeps
from lineage import command_line


def test_every_sweep_has_unique_point_names_and_a_digits_form():
    for name in sweeps.SWEEPS:
        points = sweeps.sweep_points(name)
        assert len({p.name for p in points}) == len(points), name
        if not name.endswith('_digits'):
            assert f'{name}_digits' in sweeps.SWEEPS


def test_seeds_per_sweep_as_planned():
    def count(name):
        return len(sweeps.sweep_points(name))

    assert count('ladder') == 9 * 3 and 'bottleneck-s2' in sweeps.sweep_points('ladder')[17].name
    assert (count('separable_act'), count('linear_bottleneck')) == (3 * 3, 2 * 3)
    assert (count('spectrum'), count('ladder_matched'), count('curve')) == (4 * 3, 9, 8)
    assert (count('factorization'), count('equal_params')) == (2 * 3, 9 * 3)
    assert [p.name for p in sweeps.sweep_points('ladder', seeds=[7])][:2] == [
        'plain3x3-s7',
        'plain5x5-s7',
    ]


def test_spectrum_and_activation_points_declare_their_block_option():
    spectrum = {p.name: p for p in sweeps.sweep_points('spectrum', seeds=[0])}
    assert list(spectrum) == ['spectrum-g1-s0', 'spectrum-g4-s0', 'spectrum-g16-s0',
                              'spectrum-gC-s0']  # fmt: skip
    assert spectrum['spectrum-g4-s0'].args() == [
        '--config=configs/ladder_cifar10.py:segments',
        '--config.model.block=spectrum',
        '--config.seed=0',
        '--config.model.block_options.segments=4',
    ]
    # g = C is the block's default (segments=None): no option declared.
    assert spectrum['spectrum-gC-s0'].config == 'configs/ladder_cifar10.py'
    acts = sweeps.sweep_points('separable_act_digits', seeds=[0])
    assert [p.overrides.get('model.block_options.mid_act') for p in acts] == [None, 'relu', 'elu']
    assert [p.config for p in acts] == ['configs/ladder_digits.py'] + [
        'configs/ladder_digits.py:mid_act'
    ] * 2


def test_shared_points_are_the_ladders_own():
    """mid_act none and the linear projection are the blocks' defaults: the same point, the same
    workdir, run once."""
    ladder = {p.name: p for p in sweeps.sweep_points('ladder')}
    for sweep, shared in (
        ('separable_act', 'separable'),
        ('linear_bottleneck', 'inverted_residual'),
    ):
        points = sweeps.sweep_points(sweep)
        same = [p for p in points if p.name in ladder]
        assert [p.name for p in same] == [f'{shared}-s{s}' for s in (0, 1, 2)]
        assert all(p == ladder[p.name] for p in same)
    relu6 = sweeps.sweep_points('linear_bottleneck', seeds=[0])[1]
    assert relu6.name == 'inverted_residual-relu6-s0'
    assert relu6.config == 'configs/ladder_cifar10.py:linear_bottleneck'
    assert relu6.args()[-1] == '--config.model.block_options.linear_bottleneck=False'


@pytest.mark.parametrize('sweep', sorted(sweeps.SWEEPS))
def test_every_override_names_a_config_field(sweep):
    for point in sweeps.sweep_points(sweep):
        assert command_line.unknown_fields(point.args()) == [], point.name


def test_configs_declare_only_known_block_options():
    config = ladder_digits.get_config('segments,mid_act')
    assert set(config.model.block_options) == {'segments', 'mid_act'}
    assert config.model.block_options.segments is None
    assert dict(ladder_cifar10.get_config().model.block_options) == {}
    with pytest.raises(ValueError, match="block option 'expansion' is not declared"):
        ladder_cifar10.get_config('expansion')


def test_unknown_sweep_is_one_clear_error():
    with pytest.raises(ValueError, match="unknown sweep 'ladr'; choose from"):
        sweeps.sweep_points('ladr')


def test_matched_widths_table():
    assert sweeps.ladder_matched('c')[0].overrides['model.widths'] == sweeps.BASE_WIDTHS
    assert matched_widths.ladder_params('plain3x3', sweeps.BASE_WIDTHS) == sweeps.MATCHED_BUDGET
    # separable: its table entry is the nearest to the budget among its neighbours.
    widths = sweeps.MATCHED_WIDTHS['separable']
    k = widths[0] // matched_widths.STEP
    gaps = {
        j: abs(matched_widths.ladder_params('separable', (4 * j, 8 * j, 16 * j)) - 75_290)
        for j in (k - 1, k, k + 1)
    }
    assert min(gaps, key=gaps.get) == k
    assert gaps[k] < 0.05 * sweeps.MATCHED_BUDGET


def test_equal_params_rungs_sit_within_tolerance_of_the_budget():
    """Every rung of equal_params is within 10% of separable's parameters; the rungs already
    within it at the ladder's widths are the ladder's own points (run once, shared)."""
    budget = matched_widths.ladder_params('separable', sweeps.BASE_WIDTHS)
    assert budget == sweeps.EQUAL_BUDGET
    ladder = {p.name: p for p in sweeps.sweep_points('ladder', seeds=[0])}
    for point in sweeps.sweep_points('equal_params', seeds=[0]):
        block = point.overrides['model.block']
        widths = point.overrides.get('model.widths', sweeps.BASE_WIDTHS)
        params = matched_widths.ladder_params(block, widths)
        assert abs(params - budget) <= sweeps.EQUAL_TOLERANCE * budget, (point.name, params)
        assert (point.name in ladder) == (block not in sweeps.EQUAL_WIDTHS)
    # plain3x3's widths are the nearest to the budget at width step 1.
    assert matched_widths.matched_widths('plain3x3', budget, step=1) == (7, 14, 28)


@pytest.mark.parametrize('budget, step', [(-5, 1), (0, 1), (14_090, 0)])
def test_matched_widths_refuses_a_budget_or_step_below_one(budget, step):
    with pytest.raises(ValueError, match='give a positive parameter count and step'):
        matched_widths.matched_widths('plain3x3', budget, step)


def test_factorization_pits_one_5x5_against_the_ladders_two_3x3():
    a, b = sweeps.sweep_points('factorization', seeds=[0])
    assert (a.name, b.name) == ('single5x5-s0', 'plain3x3-s0')
    assert b == {p.name: p for p in sweeps.sweep_points('ladder')}['plain3x3-s0']
    # The same receptive field at 25/18 of the weights for C -> C: at 16/32/64 (C/2 -> C first)
    # the convs have 65,200 weights against 71,856.
    assert matched_widths.ladder_params('single5x5', sweeps.BASE_WIDTHS) == 71_738


def test_curve_runs_full_schedules_by_epochs_shortest_first():
    points = sweeps.sweep_points('curve')
    assert [p.name for p in points[:3]] == ['plain3x3-e5-s0', 'separable-e5-s0', 'plain3x3-e10-s0']
    assert len(points) == len(sweeps.CURVE_EPOCHS) * len(sweeps.CURVE_RUNGS)
    assert points[-1].overrides == {
        'model.block': 'separable',
        'seed': 0,
        'num_train_steps': -1,
        'num_epochs': 40.0,
    }


def test_claims_sweep_runs_the_compared_points_claim_by_claim_seed_by_seed():
    points = sweeps.sweep_points('claims')
    names = [p.name for p in points]
    # Claim 1 first, its two points paired seed by seed; then claim 2's three activations.
    assert names[:7] == [
        'mobilenet_separable-s0', 'plain3x3-s0', 'mobilenet_separable-s1', 'plain3x3-s1',
        'mobilenet_separable-s2', 'plain3x3-s2', 'separable-s0',
    ]  # fmt: skip
    # Every compared point once (claim 4's plain3x3 is claim 1's; claim 7's are the ladder's);
    # the bottleneck rung, spectrum-g1 and the 75k matched ladder, which no claim reads, are
    # left out.
    assert (
        len(names)
        == len(set(names))
        == (2 * 3 + 3 * 3 + 2 * 3 + 3 * 3 + 1 * 3 + 3 * 3 + 0 + 2 * 3 + 1 * 3)
    )
    assert not any(n.startswith(('bottleneck', 'spectrum-g1-')) or '-w4' in n for n in names)
    assert names[-3:] == [f'inverted_residual-w10-s{s}' for s in (0, 1, 2)]
    # The same points as their own sweeps', so they share workdirs and collect into them.
    assert sweeps.members('claims') == (
        'ladder', 'separable_act', 'linear_bottleneck', 'factorization', 'spectrum',
        'equal_params',
    )  # fmt: skip
    own = {p.name: p for m in sweeps.members('claims') for p in sweeps.sweep_points(m)}
    assert all(p == own[p.name] for p in points)
    digits = sweeps.sweep_points('claims_digits', seeds=[4])
    assert digits[0].name == 'mobilenet_separable-s4'
    assert digits[0].config == 'configs/ladder_digits.py'


def test_a_point_committed_under_any_sweep_of_its_data_set_is_finished(tmp_path):
    """equal_params reuses the ladder's `separable-s0` by name: committed under ladder/e40, it is
    finished for equal_params too; a digits sweep's results never count for CIFAR."""
    for sweep, point in (('ladder', 'separable-s0'), ('ladder_digits', 'plain3x3-w7-s0')):
        (tmp_path / sweep / 'e40' / point).mkdir(parents=True)
        (tmp_path / sweep / 'e40' / point / 'results.json').write_text('{}')
    assert 'ladder' in sweeps.same_data_set('equal_params')
    assert 'ladder' not in sweeps.same_data_set('equal_params_digits')
    found = estimate.committed(sweeps.same_data_set('equal_params'), str(tmp_path), 'e40')
    assert found == {'separable-s0'}
