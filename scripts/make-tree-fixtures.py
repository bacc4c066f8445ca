#!/usr/bin/env python3
"""Writes the tree-ensemble fixtures under test/fixtures/models/trees/.

Tree models trained on a synthetic credit data set in raw units (income and debt in
dollars, age and years employed in years), exported to ONNX as ai.onnx.ml
TreeEnsembleClassifier / TreeEnsembleRegressor nodes the way skl2onnx (scikit-learn)
and onnxmltools (XGBoost, LightGBM) lay them out. No converter is needed: the graphs are
built here with onnx.helper from the trained trees, following skl2onnx's
common/tree_ensemble.py (add_tree_to_attribute_pairs: BRANCH_LEQ, one class column for
a binary classifier, tree weight 1/n for a random forest, learning rate folded into the
leaves and the initial raw prediction as base_values for gradient boosting),
onnxmltools' xgboost converter (BRANCH_LT, nodes_missing_value_tracks_true from the
default direction, base_values = logit(base_score), post_transform LOGISTIC) and
onnxmltools' lightgbm converter (see lgbm_attrs: BRANCH_LEQ from booster.dump_model(),
tree i scoring class i % classes, no base_values, LOGISTIC / SOFTMAX / NONE, the label
cast to int64 and the probabilities through ZipMap). Each LightGBM graph is run with
onnxruntime against LightGBM on its training rows and the test rows before it is written
(labels equal, probabilities or values within 1e-5); the script stops otherwise.

A threshold t (float64 in scikit-learn, which compares float32 inputs) is stored as the
largest float32 <= t, so that float32(x) <= t32 exactly when float32(x) <= t.

For each model: NAME.onnx, NAME.inputs.json (20 applicants, raw units) and
NAME.expected.json (the model library's own predictions on those rows, keyed by the
graph output names: the label and the probabilities, or the regression value). The
tests check onnxruntime-node against these, which checks this converter too.
Run from the repository root: python3 scripts/make-tree-fixtures.py [NAME...] writes
every fixture, or only those named. The scikit-learn and XGBoost fixtures were written
with scikit-learn 1.2 and XGBoost 1.7, the LightGBM ones (lgbm_credit, lgbm_3class,
lgbm_limit) with LightGBM 4.7 and checked with onnxruntime 1.30; each group imports only
its own library, so the two groups may run under different interpreters.
"""
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper

OUT = os.path.join('test', 'fixtures', 'models', 'trees')
COLUMNS = ['income', 'debt', 'age', 'years_employed']
BENCH_COLUMNS = COLUMNS + ['credit_lines', 'late_payments', 'utilization', 'loan_amount']
OPSETS = [helper.make_opsetid('', 15), helper.make_opsetid('ai.onnx.ml', 3)]


def credit_data(n, seed=7, wide=False):
    rng = np.random.default_rng(seed)
    income = rng.uniform(15_000, 180_000, n).round(0)
    debt = (rng.uniform(0, 0.9, n) * income).round(0)
    age = rng.integers(18, 76, n).astype(float)
    years = np.minimum(age - 18, rng.uniform(0, 35, n)).round(1)
    cols = [income, debt, age, years]
    score = (income - 1.6 * debt) / 10_000 + 0.08 * years + 0.02 * (age - 40) + rng.normal(0, 1.0, n)
    if wide:
        lines = rng.integers(0, 21, n).astype(float)
        late = rng.poisson(0.8, n).astype(float)
        util = rng.uniform(0, 1, n).round(3)
        loan = rng.uniform(1_000, 50_000, n).round(0)
        cols += [lines, late, util, loan]
        score += 0.05 * lines - 0.6 * late - 1.5 * util - loan / 40_000
    return np.stack(cols, axis=1), score


def f32_down(t):
    """The largest float32 <= t."""
    v = np.float32(t)
    if float(v) > t:
        v = np.nextafter(v, np.float32(-np.inf))
    return float(v)


class Attrs:
    def __init__(self, classifier):
        self.classifier = classifier
        self.a = {k: [] for k in ['nodes_treeids', 'nodes_nodeids', 'nodes_featureids', 'nodes_values', 'nodes_modes',
                                  'nodes_truenodeids', 'nodes_falsenodeids', 'nodes_missing_value_tracks_true', 'nodes_hitrates']}
        p = 'class' if classifier else 'target'
        self.p = p
        for k in ['treeids', 'nodeids', 'ids', 'weights']:
            self.a[f'{p}_{k}'] = []

    def node(self, tree, nid, feat, mode, value, true_id, false_id, missing_true=0):
        a = self.a
        a['nodes_treeids'].append(tree)
        a['nodes_nodeids'].append(nid)
        a['nodes_featureids'].append(int(feat))
        a['nodes_modes'].append(mode)
        a['nodes_values'].append(value)
        a['nodes_truenodeids'].append(int(true_id))
        a['nodes_falsenodeids'].append(int(false_id))
        a['nodes_missing_value_tracks_true'].append(int(missing_true))
        a['nodes_hitrates'].append(1.0)

    def leaf(self, tree, nid, cls, w):
        p = self.p
        self.a[f'{p}_treeids'].append(tree)
        self.a[f'{p}_nodeids'].append(nid)
        self.a[f'{p}_ids'].append(int(cls))
        self.a[f'{p}_weights'].append(float(np.float32(w)))


def add_sklearn_tree(at, tree, tree_id, weight, bias, counts):
    """skl2onnx add_tree_to_attribute_pairs: BRANCH_LEQ, leaf values (normalised counts for a
    classifier's tree, times the tree weight); a binary classifier keeps only class 1."""
    t = tree.tree_
    for i in range(t.node_count):
        if t.children_left[i] != -1:
            at.node(tree_id, i, t.feature[i], 'BRANCH_LEQ', f32_down(t.threshold[i]), t.children_left[i], t.children_right[i])
        else:
            at.node(tree_id, i, 0, 'LEAF', 0.0, 0, 0)
            w = np.asarray(t.value[i]).ravel().astype(np.float64)
            if counts:
                s = w.sum()
                w = w / (s if s != 0 else 1)
            w = w * weight
            if at.classifier and len(w) == 2:
                w = w[1:]
            for c, v in enumerate(w):
                at.leaf(tree_id, i, c + bias, v)


# The fixture names to write (None: all of them); see the command line in main().
SELECTED = None


def selected(name):
    return SELECTED is None or name in SELECTED


def write_model(name, node_type, attrs, inputs, outputs, doc, extra_nodes=()):
    if not selected(name):
        return
    node = helper.make_node(node_type, ['input'], [o.name for o in outputs][:2] if node_type == 'TreeEnsembleClassifier' else [outputs[0].name],
                            name=node_type, domain='ai.onnx.ml', **attrs)
    graph = helper.make_graph([node, *extra_nodes], name, inputs, outputs)
    model = helper.make_model(graph, opset_imports=OPSETS, producer_name='tree-ensemble layout (scripts/make-tree-fixtures.py)', ir_version=8)
    model.doc_string = doc
    onnx.checker.check_model(model)
    with open(os.path.join(OUT, f'{name}.onnx'), 'wb') as f:
        f.write(model.SerializeToString())


def classifier_outputs(labels, n_cols=None):
    lt = TensorProto.STRING if isinstance(labels[0], str) else TensorProto.INT64
    return [helper.make_tensor_value_info('label', lt, [None]),
            helper.make_tensor_value_info('probabilities', TensorProto.FLOAT, [None, n_cols or len(labels)])]


def label_attr(labels):
    return {'classlabels_strings': labels} if isinstance(labels[0], str) else {'classlabels_int64s': [int(v) for v in labels]}


def write_rows(name, rows, expected, columns=COLUMNS):
    if not selected(name):
        return
    with open(os.path.join(OUT, f'{name}.inputs.json'), 'w') as f:
        json.dump({'columns': columns, 'inputs': ['input'], 'rows': [[float(v) for v in r] for r in rows]}, f, indent=1)
    with open(os.path.join(OUT, f'{name}.expected.json'), 'w') as f:
        json.dump(expected, f, indent=1)


def classifier_expected(model, rows):
    """The library's own label and probabilities (float32 inputs, as onnxruntime sees them)."""
    x = rows.astype(np.float32)
    labels = model.predict(x)
    return {'label': [v.item() if hasattr(v, 'item') else v for v in labels],
            'probabilities': [[float(p) for p in r] for r in model.predict_proba(x)]}


def finput(n=4):
    return [helper.make_tensor_value_info('input', TensorProto.FLOAT, [None, n])]


def xgb_attrs(booster, n_features, base_score):
    """onnxmltools' XGBClassifier converter for binary:logistic, from the booster's JSON dump."""
    at = Attrs(True)
    for tree_id, js in enumerate(booster.get_dump(dump_format='json')):
        stack = [json.loads(js)]
        while stack:
            n = stack.pop()
            if 'leaf' in n:
                at.node(tree_id, n['nodeid'], 0, 'LEAF', 0.0, 0, 0)
                at.leaf(tree_id, n['nodeid'], 0, n['leaf'])
                continue
            feat = int(n['split'][1:])
            assert 0 <= feat < n_features
            at.node(tree_id, n['nodeid'], feat, 'BRANCH_LT', float(np.float32(n['split_condition'])), n['yes'], n['no'],
                    1 if n['missing'] == n['yes'] else 0)
            stack.extend(n['children'])
    attrs = dict(at.a)
    attrs['post_transform'] = 'LOGISTIC'
    attrs['base_values'] = [float(np.float32(-np.log(1 / np.float32(base_score) - 1.0)))]
    attrs['classlabels_int64s'] = [0, 1]
    return attrs


def sklearn_xgboost_fixtures():
    """The scikit-learn and XGBoost fixtures (written with scikit-learn 1.2 and XGBoost 1.7)."""
    import xgboost as xgb
    from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor, RandomForestClassifier, RandomForestRegressor
    from sklearn.tree import DecisionTreeClassifier

    X, score = credit_data(600)
    Xt, _ = credit_data(20, seed=99)
    y2 = (score > np.median(score)).astype(int)
    X32 = X.astype(np.float32)

    # 1. DecisionTreeClassifier, binary: one class column (p of class 1), post_transform NONE.
    dt = DecisionTreeClassifier(max_depth=4, min_samples_leaf=15, random_state=0).fit(X32, y2)
    at = Attrs(True)
    add_sklearn_tree(at, dt, 0, 1.0, 0, True)
    attrs = dict(at.a, post_transform='NONE', **label_attr([0, 1]))
    write_model('dt_binary', 'TreeEnsembleClassifier', attrs, finput(), classifier_outputs([0, 1]), 'DecisionTreeClassifier(max_depth=4), binary')
    write_rows('dt_binary', Xt, classifier_expected(dt, Xt))

    # 2. RandomForestClassifier, 5 trees, string labels: tree weight 1/5, ZipMap on.
    ys = np.where(y2 == 1, 'approve', 'decline')
    rf = RandomForestClassifier(n_estimators=5, max_depth=4, min_samples_leaf=10, random_state=0).fit(X32, ys)
    labels = [str(c) for c in rf.classes_]
    at = Attrs(True)
    for i, est in enumerate(rf.estimators_):
        add_sklearn_tree(at, est, i, 1 / len(rf.estimators_), 0, True)
    attrs = dict(at.a, post_transform='NONE', **label_attr(labels))
    seq = onnx.TypeProto()
    seq.sequence_type.elem_type.map_type.key_type = TensorProto.STRING
    seq.sequence_type.elem_type.map_type.value_type.CopyFrom(helper.make_tensor_type_proto(TensorProto.FLOAT, []))
    zip_nodes = [helper.make_node('ZipMap', ['probabilities'], ['output_probability'], name='ZipMap', domain='ai.onnx.ml', classlabels_strings=labels),
                 helper.make_node('Identity', ['label'], ['output_label'], name='LabelIdentity')]
    node = helper.make_node('TreeEnsembleClassifier', ['input'], ['label', 'probabilities'], name='TreeEnsembleClassifier', domain='ai.onnx.ml', **attrs)
    graph = helper.make_graph([node, *zip_nodes], 'rf_zipmap', finput(),
                              [helper.make_tensor_value_info('output_label', TensorProto.STRING, [None]), helper.make_value_info('output_probability', seq)])
    model = helper.make_model(graph, opset_imports=OPSETS, producer_name='tree-ensemble layout (scripts/make-tree-fixtures.py)', ir_version=8)
    model.doc_string = 'RandomForestClassifier(5 trees, max_depth=4), string labels, ZipMap'
    onnx.checker.check_model(model)
    if selected('rf_zipmap'):
        with open(os.path.join(OUT, 'rf_zipmap.onnx'), 'wb') as f:
            f.write(model.SerializeToString())
    e = classifier_expected(rf, Xt)
    write_rows('rf_zipmap', Xt, {'output_label': e['label'], 'output_probability': e['probabilities']})

    # 3. DecisionTreeClassifier, 3 risk classes: one weight per class per leaf, NONE (argmax).
    y3 = np.digitize(score, np.quantile(score, [1 / 3, 2 / 3]))
    dt3 = DecisionTreeClassifier(max_depth=5, min_samples_leaf=10, random_state=0).fit(X32, y3)
    at = Attrs(True)
    add_sklearn_tree(at, dt3, 0, 1.0, 0, True)
    attrs = dict(at.a, post_transform='NONE', **label_attr([0, 1, 2]))
    write_model('dt_3class', 'TreeEnsembleClassifier', attrs, finput(), classifier_outputs([0, 1, 2]), 'DecisionTreeClassifier(max_depth=5), 3 classes')
    write_rows('dt_3class', Xt, classifier_expected(dt3, Xt))

    # 4. GradientBoostingClassifier, binary, raw units: LOGISTIC, base_values = the prior's
    #    log-odds, learning rate folded into the leaves. The gradient-boosted credit model.
    gb = GradientBoostingClassifier(n_estimators=40, max_depth=3, learning_rate=0.2, random_state=0).fit(X32, y2)
    at = Attrs(True)
    for i in range(gb.n_estimators_):
        add_sklearn_tree(at, gb.estimators_[i][0], i, gb.learning_rate, 0, False)
    base = gb._raw_predict_init(X32[:1]).ravel()
    attrs = dict(at.a, post_transform='LOGISTIC', base_values=[float(v) for v in base], **label_attr([0, 1]))
    write_model('gb_credit', 'TreeEnsembleClassifier', attrs, finput(), classifier_outputs([0, 1]), 'GradientBoostingClassifier(40 trees, max_depth=3), binary, raw units')
    write_rows('gb_credit', Xt, classifier_expected(gb, Xt))

    # 5. GradientBoostingClassifier, 3 classes: tree i*3+c scores class c, SOFTMAX.
    gb3 = GradientBoostingClassifier(n_estimators=8, max_depth=2, learning_rate=0.3, random_state=0).fit(X32, y3)
    at = Attrs(True)
    for i in range(gb3.n_estimators_):
        for c in range(3):
            add_sklearn_tree(at, gb3.estimators_[i][c], i * 3 + c, gb3.learning_rate, c, False)
    base = gb3._raw_predict_init(X32[:1]).ravel()
    attrs = dict(at.a, post_transform='SOFTMAX', base_values=[float(v) for v in base], **label_attr([0, 1, 2]))
    write_model('gb_3class', 'TreeEnsembleClassifier', attrs, finput(), classifier_outputs([0, 1, 2]), 'GradientBoostingClassifier(8 x 3 trees), 3 classes, SOFTMAX')
    write_rows('gb_3class', Xt, classifier_expected(gb3, Xt))

    # 6. GradientBoostingRegressor: a credit limit in thousands of dollars, SUM, base = mean.
    limit = (0.25 * X[:, 0] - 0.4 * X[:, 1] + 300 * X[:, 3] + 5_000) / 1000
    gbr = GradientBoostingRegressor(n_estimators=20, max_depth=3, learning_rate=0.3, random_state=0).fit(X32, limit)
    at = Attrs(False)
    for i in range(gbr.n_estimators_):
        add_sklearn_tree(at, gbr.estimators_[i][0], i, gbr.learning_rate, 0, False)
    base = gbr._raw_predict_init(X32[:1]).ravel()
    attrs = dict(at.a, n_targets=1, aggregate_function='SUM', post_transform='NONE', base_values=[float(v) for v in base])
    out = [helper.make_tensor_value_info('variable', TensorProto.FLOAT, [None, 1])]
    write_model('gb_limit', 'TreeEnsembleRegressor', attrs, finput(), out, 'GradientBoostingRegressor(20 trees): credit limit in thousands')
    write_rows('gb_limit', Xt, {'variable': [[float(v)] for v in gbr.predict(Xt.astype(np.float32))]})

    # 7. RandomForestRegressor, 4 trees: aggregate_function AVERAGE (leaves as they are).
    rfr = RandomForestRegressor(n_estimators=4, max_depth=4, random_state=0).fit(X32, limit)
    at = Attrs(False)
    for i, est in enumerate(rfr.estimators_):
        add_sklearn_tree(at, est, i, 1.0, 0, False)
    attrs = dict(at.a, n_targets=1, aggregate_function='AVERAGE', post_transform='NONE')
    write_model('rf_limit', 'TreeEnsembleRegressor', attrs, finput(), out, 'RandomForestRegressor(4 trees), AVERAGE: credit limit in thousands')
    write_rows('rf_limit', Xt, {'variable': [[float(v)] for v in rfr.predict(Xt.astype(np.float32))]})

    # 8. XGBoost binary:logistic (onnxmltools layout), base_score 0.35.
    xg = xgb.XGBClassifier(n_estimators=30, max_depth=3, learning_rate=0.3, base_score=0.35, tree_method='exact', random_state=0)
    xg.fit(X32, y2)
    attrs = xgb_attrs(xg.get_booster(), 4, 0.35)
    write_model('xgb_credit', 'TreeEnsembleClassifier', attrs, finput(), classifier_outputs([0, 1]), 'XGBClassifier(30 trees, max_depth=3), binary:logistic, base_score 0.35')
    write_rows('xgb_credit', Xt, classifier_expected(xg, Xt))

    # 9. The benchmark: XGBoost, 100 trees of depth 6 on 8 credit features.
    Xb, sb = credit_data(6000, seed=11, wide=True)
    Xbt, _ = credit_data(20, seed=12, wide=True)
    yb = (sb > np.median(sb)).astype(int)
    xb = xgb.XGBClassifier(n_estimators=100, max_depth=6, learning_rate=0.1, base_score=0.5, tree_method='exact', random_state=0)
    xb.fit(Xb.astype(np.float32), yb)
    attrs = xgb_attrs(xb.get_booster(), 8, 0.5)
    # base_score 0.5: onnxmltools writes no base_values.
    del attrs['base_values']
    write_model('xgb_100x6', 'TreeEnsembleClassifier', attrs, finput(8), classifier_outputs([0, 1]), 'XGBClassifier(100 trees, max_depth=6), binary:logistic, 8 credit features')
    write_rows('xgb_100x6', Xbt, classifier_expected(xb, Xbt), BENCH_COLUMNS)


# --- LightGBM (onnxmltools' converter layout) ---------------------------------------

LGBM_COLUMNS = ['income', 'debt_ratio', 'age', 'years_employed', 'credit_lines', 'late_payments', 'utilization', 'loan_amount']


def lgbm_credit_data(n, seed):
    """The 8 credit features with the debt as a ratio of the income (3 decimals)."""
    X, score = credit_data(n, seed=seed, wide=True)
    X[:, 1] = (X[:, 1] / X[:, 0]).round(3)
    return X, score


def lgbm_attrs(booster, n_features):
    """onnxmltools' convert_lightgbm (operator_converters/LightGbm.py) on booster.dump_model():
    tree i scores class i % n_classes (1 for binary and regression); node ids are given
    in the order _parse_tree_structure creates them (the root 0, then both children of a
    node before its subtrees), then every nodes_* list is sorted by (tree, node id);
    decision_type '<=' is BRANCH_LEQ (left = true branch); nodes_missing_value_tracks_true
    is default_left, except 0 when missing_type is None and the threshold is negative;
    leaf values as dumped (the shrinkage and the initial score are already in them); no
    base_values. Thresholds are the dumped doubles, stored as float32 by onnx.helper."""
    dump = booster.dump_model()
    objective = dump['objective'].split(' ')[0]
    n_classes = dump['num_class'] if objective.startswith('multiclass') else 1
    a = {k: [] for k in ['nodes_treeids', 'nodes_nodeids', 'nodes_featureids', 'nodes_modes', 'nodes_values', 'nodes_truenodeids',
                         'nodes_falsenodeids', 'nodes_missing_value_tracks_true', 'nodes_hitrates', 'class_treeids', 'class_nodeids', 'class_ids', 'class_weights']}
    for tree_id, tree in enumerate(dump['tree_info']):
        class_id = tree_id % n_classes
        next_id = [0]

        def new_id():
            i = next_id[0]
            next_id[0] += 1
            return i

        def parse(n, nid):
            if 'left_child' not in n:
                for k, v in [('nodes_treeids', tree_id), ('nodes_nodeids', nid), ('nodes_featureids', 0), ('nodes_modes', 'LEAF'), ('nodes_values', 0.0),
                             ('nodes_truenodeids', 0), ('nodes_falsenodeids', 0), ('nodes_missing_value_tracks_true', 0), ('nodes_hitrates', 1.0)]:
                    a[k].append(v)
                assert not n.get('leaf_coeff'), 'linear trees cannot be a TreeEnsemble'
                a['class_treeids'].append(tree_id)
                a['class_nodeids'].append(nid)
                a['class_ids'].append(class_id)
                a['class_weights'].append(float(n['leaf_value']))
                return
            assert n['decision_type'] == '<=', f"decision_type {n['decision_type']} (no categorical features here)"
            assert 0 <= n['split_feature'] < n_features
            left, right = new_id(), new_id()
            t = float(n['threshold'])
            missing_true = 0 if not n['default_left'] or (n['missing_type'] == 'None' and t < 0.0) else 1
            for k, v in [('nodes_treeids', tree_id), ('nodes_nodeids', nid), ('nodes_featureids', int(n['split_feature'])), ('nodes_modes', 'BRANCH_LEQ'),
                         ('nodes_values', t), ('nodes_truenodeids', left), ('nodes_falsenodeids', right), ('nodes_missing_value_tracks_true', missing_true),
                         ('nodes_hitrates', 1.0)]:
                a[k].append(v)
            parse(n['left_child'], left)
            parse(n['right_child'], right)

        parse(tree['tree_structure'], new_id())
    order = sorted(range(len(a['nodes_treeids'])), key=lambda i: (a['nodes_treeids'][i], a['nodes_nodeids'][i]))
    for k in list(a):
        if k.startswith('nodes_'):
            a[k] = [a[k][i] for i in order]
    return objective, n_classes, a


def lgbm_classifier_graph(name, attrs, labels, n_features, doc):
    """LgbmClassifier + LgbmZipMap: TreeEnsembleClassifier -> Identity (label_tensor,
    probability_tensor) -> Cast to int64 (label) and ZipMap (probabilities)."""
    tec = helper.make_node('TreeEnsembleClassifier', ['input'], ['label_tensor', 'probability_tensor'], name='LgbmClassifier', domain='ai.onnx.ml',
                           classlabels_int64s=labels, **attrs)
    nodes = [tec,
             helper.make_node('Identity', ['label_tensor'], ['lgbmlabel'], name='Identity'),
             helper.make_node('Identity', ['probability_tensor'], ['lgbmprobabilities'], name='Identity1'),
             helper.make_node('Cast', ['lgbmlabel'], ['label'], name='Cast', to=TensorProto.INT64),
             helper.make_node('ZipMap', ['lgbmprobabilities'], ['probabilities'], name='ZipMap', domain='ai.onnx.ml', classlabels_int64s=labels)]
    seq = onnx.TypeProto()
    seq.sequence_type.elem_type.map_type.key_type = TensorProto.INT64
    seq.sequence_type.elem_type.map_type.value_type.CopyFrom(helper.make_tensor_type_proto(TensorProto.FLOAT, []))
    graph = helper.make_graph(nodes, name, finput(n_features), [helper.make_tensor_value_info('label', TensorProto.INT64, [None]), helper.make_value_info('probabilities', seq)])
    return finish_model(graph, doc)


def lgbm_regressor_graph(name, attrs, n_features, doc):
    """LgbmRegressor: TreeEnsembleRegressor (class_* renamed target_*, n_targets 1) -> Identity (variable)."""
    attrs = {('target' + k[5:] if k.startswith('class_') else k): v for k, v in attrs.items()}
    nodes = [helper.make_node('TreeEnsembleRegressor', ['input'], ['output'], name='LgbmRegressor', domain='ai.onnx.ml', n_targets=1, **attrs),
             helper.make_node('Identity', ['output'], ['variable'], name='Identity')]
    graph = helper.make_graph(nodes, name, finput(n_features), [helper.make_tensor_value_info('variable', TensorProto.FLOAT, [None, 1])])
    return finish_model(graph, doc)


def finish_model(graph, doc):
    model = helper.make_model(graph, opset_imports=OPSETS, producer_name='tree-ensemble layout (scripts/make-tree-fixtures.py)', ir_version=8)
    model.doc_string = doc
    onnx.checker.check_model(model)
    return model


def check_with_onnxruntime(name, model, predict, X, tol=1e-5):
    """onnxruntime on the written graph against LightGBM on rows X (float32): every label
    equal, every probability (or value) within tol. Fails loudly otherwise."""
    import onnxruntime as ort
    sess = ort.InferenceSession(model.SerializeToString(), providers=['CPUExecutionProvider'])
    x = X.astype(np.float32)
    out = sess.run(None, {'input': x})
    want_label, want = predict(x)
    if want_label is not None:
        labels = np.asarray(out[0])
        got = np.array([[m[k] for k in sorted(m)] for m in out[1]], dtype=np.float64)
        bad = np.flatnonzero(labels != want_label)
        if bad.size:
            raise SystemExit(f'{name}: onnxruntime labels differ from LightGBM on {bad.size} of {len(x)} rows (first: row {bad[0]})')
    else:
        got = np.asarray(out[0], dtype=np.float64)
    err = np.abs(got - want) / np.maximum(1.0, np.abs(want))
    if not err.max() <= tol:
        raise SystemExit(f'{name}: onnxruntime differs from LightGBM by {err.max():.3g} (relative) on row {int(err.max(axis=1).argmax())}; tolerance {tol}')
    print(f'{name}: onnxruntime agrees with LightGBM on {len(x)} rows (max relative error {err.max():.2g})')


def lgbm_fixtures():
    """The LightGBM fixtures (written with LightGBM 4.7; checked with onnxruntime)."""
    import lightgbm as lgb

    common = dict(deterministic=True, force_row_wise=True, n_jobs=1, random_state=0, verbose=-1)

    def write(name, model, rows, expected, columns):
        if not selected(name):
            return
        with open(os.path.join(OUT, f'{name}.onnx'), 'wb') as f:
            f.write(model.SerializeToString())
        write_rows(name, rows, expected, columns)

    def classifier(name, clf, X, Xt, n_features, doc, columns):
        objective, n_classes, attrs = lgbm_attrs(clf.booster_, n_features)
        assert objective.startswith('binary') if n_classes == 1 else objective.startswith('multiclass')
        attrs['post_transform'] = 'LOGISTIC' if n_classes == 1 else 'SOFTMAX'
        model = lgbm_classifier_graph(name, attrs, [int(c) for c in clf.classes_], n_features, doc)
        check_with_onnxruntime(name, model, lambda x: (clf.predict(x), clf.predict_proba(x)), np.concatenate([X, Xt]))
        write(name, model, Xt, classifier_expected(clf, Xt), columns)

    # 1. The credit model: binary, 60 trees of up to 15 leaves, 8 features in raw units.
    X, score = lgbm_credit_data(5000, seed=31)
    Xt, _ = lgbm_credit_data(20, seed=32)
    y = (score > np.median(score)).astype(int)
    clf = lgb.LGBMClassifier(n_estimators=60, num_leaves=15, learning_rate=0.1, **common).fit(X.astype(np.float32), y)
    classifier('lgbm_credit', clf, X, Xt, 8, 'LGBMClassifier(60 trees, num_leaves=15), binary, 8 credit features in raw units', LGBM_COLUMNS)

    # 2. Three risk classes: multiclass, tree i scores class i % 3, SOFTMAX.
    X4, score4 = credit_data(3000, seed=33)
    Xt4, _ = credit_data(20, seed=99)
    y3 = np.digitize(score4, np.quantile(score4, [1 / 3, 2 / 3]))
    clf3 = lgb.LGBMClassifier(n_estimators=15, num_leaves=7, learning_rate=0.2, **common).fit(X4.astype(np.float32), y3)
    classifier('lgbm_3class', clf3, X4, Xt4, 4, 'LGBMClassifier(15 x 3 trees, num_leaves=7), 3 classes, SOFTMAX', COLUMNS)

    # 3. A credit limit in thousands of dollars: regression, SUM, no base value.
    limit = (0.25 * X4[:, 0] - 0.4 * X4[:, 1] + 300 * X4[:, 3] + 5_000) / 1000
    reg = lgb.LGBMRegressor(n_estimators=40, num_leaves=15, learning_rate=0.2, **common).fit(X4.astype(np.float32), limit)
    objective, _, attrs = lgbm_attrs(reg.booster_, 4)
    assert objective == 'regression', objective
    attrs['post_transform'] = 'NONE'
    model = lgbm_regressor_graph('lgbm_limit', attrs, 4, 'LGBMRegressor(40 trees, num_leaves=15): credit limit in thousands')
    check_with_onnxruntime('lgbm_limit', model, lambda x: (None, reg.predict(x).reshape(-1, 1)), np.concatenate([X4, Xt4]))
    write('lgbm_limit', model, Xt4, {'variable': [[float(v)] for v in reg.predict(Xt4.astype(np.float32))]}, COLUMNS)


GROUPS = [
    (['dt_binary', 'rf_zipmap', 'dt_3class', 'gb_credit', 'gb_3class', 'gb_limit', 'rf_limit', 'xgb_credit', 'xgb_100x6'], sklearn_xgboost_fixtures),
    (['lgbm_credit', 'lgbm_3class', 'lgbm_limit'], lgbm_fixtures),
]


def main():
    """python3 scripts/make-tree-fixtures.py [NAME...]: every fixture, or only those named
    (each group imports its own library: scikit-learn and XGBoost, or LightGBM)."""
    global SELECTED
    names = [n for g, _ in GROUPS for n in g]
    unknown = [n for n in sys.argv[1:] if n not in names]
    if unknown:
        raise SystemExit(f'unknown fixture {", ".join(unknown)}; known: {", ".join(names)}')
    SELECTED = set(sys.argv[1:]) or None
    os.makedirs(OUT, exist_ok=True)
    for group, fn in GROUPS:
        if any(selected(n) for n in group):
            fn()


if __name__ == '__main__':
    main()
