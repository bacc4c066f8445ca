#!/usr/bin/env python3
"""Writes the scikit-learn fixtures under test/fixtures/models/sklearn/.

Small linear models trained on a synthetic credit data set (income, debt, age,
years employed, in raw units), exported to ONNX the way skl2onnx exports them:
an ai.onnx.ml Scaler for StandardScaler, LinearClassifier / LinearRegressor for the
linear models, a Normalizer(L1) after a binary LogisticRegression, ZipMap on or off,
one graph input per column merged by FeatureVectorizer, ArrayFeatureExtractor for a
column selection. When skl2onnx is importable it converts the pipelines itself;
otherwise (no network) the same graphs are built with onnx.helper from the trained
coefficients, following skl2onnx's converters (linear_classifier.py, scaler.py).

For each model: NAME.onnx, NAME.inputs.json (20 rows, raw units, one list per row in
the order of the graph inputs' columns; a category as its string, a missing value as
null) and NAME.expected.json (every graph output on those rows, from onnxruntime when
it is importable, otherwise from scikit-learn's own predict / predict_proba, which the
TypeScript tests check onnxruntime-node against; ZipMap outputs as lists in class-label
order).

Binarizer and Normalizer pipelines: StandardScaler + Binarizer + LogisticRegression on the
credit data; Binarizer + LogisticRegression on raw counts and a balance in dollars (one
threshold for every column, as scikit-learn's); Normalizer('l1') and Normalizer('max') +
LogisticRegression on non-negative spending amounts (scikit-learn's 'max' divides by the
largest magnitude, onnxruntime's MAX by the largest value: the same on non-negative rows),
with an all-zero row (left as it is by both); StandardScaler + Normalizer('l2') +
LogisticRegression on the credit data.
Also: a credit pipeline with categorical columns (ColumnTransformer: StandardScaler on
the numeric columns, OneHotEncoder on string and integer categories, one graph input per
column), an Imputer pipeline (SimpleImputer on NaN), and an OrdinalEncoder pipeline
(skl2onnx lowers it to one LabelEncoder per column).
MLPClassifier (mlp_binary: StandardScaler + MLPClassifier((16, 8), relu), two classes, six
credit columns; mlp_3class: MLPClassifier((12,), relu), three classes, no scaler), in the
layout of skl2onnx's multilayer_perceptron.py: Cast of the input, per layer MatMul + Add
then the activation, Sigmoid (two classes: Sub(unity, p), Concat) or Softmax (Identity) out,
ArgMax -> ArrayFeatureExtractor on int32 classes -> Reshape(-1) -> Cast(int64); ZipMap on.
Each is checked with onnxruntime against predict / predict_proba (the run fails otherwise).
Interpreter: the fixtures up to the MLPs were written by whichever python3 had onnxruntime;
the MLP fixtures were written by the pyenv python3 (scikit-learn 1.9.1, onnx 1.23,
onnxruntime 1.30), only by name, so no other fixture was regenerated:
  python3 scripts/make-sklearn-fixtures.py mlp_binary mlp_3class
The MLP fixtures need onnxruntime (their check does).
Run from the repository root: python3 scripts/make-sklearn-fixtures.py [NAME ...]
(only the named fixtures; all without names).
"""
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper
try:
    import onnxruntime as ort
except ImportError:  # expected outputs then come from scikit-learn
    ort = None
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, SVR, LinearSVC

OUT = os.path.join('test', 'fixtures', 'models', 'sklearn')
COLUMNS = ['income', 'debt', 'age', 'years_employed']
OPSETS = [helper.make_opsetid('', 15), helper.make_opsetid('ai.onnx.ml', 3)]


def credit_data(n, seed=7):
    rng = np.random.default_rng(seed)
    income = rng.uniform(15_000, 180_000, n).round(0)
    debt = (rng.uniform(0, 0.9, n) * income).round(0)
    age = rng.integers(18, 76, n).astype(float)
    years = np.minimum(age - 18, rng.uniform(0, 35, n)).round(1)
    X = np.stack([income, debt, age, years], axis=1)
    score = (income - 1.6 * debt) / 10_000 + 0.08 * years + 0.02 * (age - 40) + rng.normal(0, 1.0, n)
    return X, score


def f32(a):
    return [float(v) for v in np.asarray(a, dtype=np.float64).ravel()]


def scaler_node(sc, inp, out, name='Scaler'):
    # skl2onnx: offset = mean, scale = 1 / std (Y = (X - offset) * scale).
    return helper.make_node('Scaler', [inp], [out], name=name, domain='ai.onnx.ml', offset=f32(sc.mean_), scale=f32(1 / sc.scale_))


def classifier_node(coef, intercept, labels, post, inp, name='LinearClassifier'):
    kw = {'classlabels_strings': labels} if isinstance(labels[0], str) else {'classlabels_ints': [int(v) for v in labels]}
    return helper.make_node(
        'LinearClassifier', [inp], ['label', 'probability_tensor'], name=name, domain='ai.onnx.ml',
        coefficients=f32(coef), intercepts=f32(intercept), post_transform=post, multi_class=0, **kw,
    )


def label_type(labels):
    return TensorProto.STRING if isinstance(labels[0], str) else TensorProto.INT64


ONLY = set(sys.argv[1:])


def wanted(name):
    return not ONLY or name in ONLY


def finish(name, nodes, inputs, outputs, doc, initializer=()):
    if not wanted(name):
        return
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=list(initializer))
    model = helper.make_model(graph, opset_imports=OPSETS, producer_name='skl2onnx-layout (scripts/make-sklearn-fixtures.py)', ir_version=8)
    model.doc_string = doc
    onnx.checker.check_model(model)
    with open(os.path.join(OUT, f'{name}.onnx'), 'wb') as f:
        f.write(model.SerializeToString())


def map_type(key, value):
    """helper.make_map_type_proto, which onnx before 1.13 lacks."""
    if hasattr(helper, 'make_map_type_proto'):
        return helper.make_map_type_proto(key, value)
    t = onnx.TypeProto()
    t.map_type.key_type = key
    t.map_type.value_type.CopyFrom(value)
    return t


def sequence_type(elem):
    if hasattr(helper, 'make_sequence_type_proto'):
        return helper.make_sequence_type_proto(elem)
    t = onnx.TypeProto()
    t.sequence_type.elem_type.CopyFrom(elem)
    return t


def outputs_with_zipmap(labels, zipmap, nodes, prob='probabilities'):
    """The label output, and the scores as a tensor or through ZipMap (skl2onnx's zipmap option)."""
    lt = label_type(labels)
    if zipmap:
        kw = {'classlabels_strings': labels} if lt == TensorProto.STRING else {'classlabels_int64s': [int(v) for v in labels]}
        nodes.append(helper.make_node('Identity', ['label'], ['output_label'], name='LabelIdentity'))
        nodes.append(helper.make_node('ZipMap', [prob], ['output_probability'], name='ZipMap', domain='ai.onnx.ml', **kw))
        key = TensorProto.STRING if lt == TensorProto.STRING else TensorProto.INT64
        seq = sequence_type(map_type(key, helper.make_tensor_type_proto(TensorProto.FLOAT, [])))
        return [helper.make_tensor_value_info('output_label', lt, [None]), helper.make_value_info('output_probability', seq)]
    return [helper.make_tensor_value_info('label', lt, [None]), helper.make_tensor_value_info(prob, TensorProto.FLOAT, [None, len(labels)])]


def binary_logistic_nodes(lr, labels, inp):
    """skl2onnx's binary LogisticRegression: rows (-w, w), LOGISTIC, then Normalizer(L1)."""
    return [
        classifier_node(np.vstack([-lr.coef_, lr.coef_]), np.concatenate([-lr.intercept_, lr.intercept_]), labels, 'LOGISTIC', inp),
        helper.make_node('Normalizer', ['probability_tensor'], ['probabilities'], name='Normalizer', domain='ai.onnx.ml', norm='L1'),
    ]


def binary_logistic(sc, lr, labels, inp, zipmap):
    # skl2onnx, binary LogisticRegression: two rows (-w, w), intercepts (-b, b),
    # post_transform LOGISTIC, then Normalizer(L1) to make the two columns sum to 1.
    coef = np.vstack([-lr.coef_, lr.coef_])
    b = np.concatenate([-lr.intercept_, lr.intercept_])
    nodes = [
        scaler_node(sc, inp, 'variable'),
        classifier_node(coef, b, labels, 'LOGISTIC', 'variable'),
        helper.make_node('Normalizer', ['probability_tensor'], ['probabilities'], name='Normalizer', domain='ai.onnx.ml', norm='L1'),
    ]
    return nodes, outputs_with_zipmap(labels, zipmap, nodes)


def run_ort(name, feeds_rows, input_names, split):
    sess = ort.InferenceSession(os.path.join(OUT, f'{name}.onnx'))
    out = {o.name: [] for o in sess.get_outputs()}
    for row in feeds_rows:
        feeds = {}
        for n, (a, b) in zip(input_names, split):
            vals = list(row[a:b])
            kind = next(i.type for i in sess.get_inputs() if i.name == n)
            dtype = object if 'string' in kind else np.int64 if 'int64' in kind else np.float32
            feeds[n] = np.array([[np.nan if v is None else v for v in vals]], dtype=dtype)
        res = sess.run(None, feeds)
        for o, v in zip(sess.get_outputs(), res):
            if isinstance(v, list):  # ZipMap: a list of {label: p}
                out[o.name].append([float(p) for p in v[0].values()])
            elif v.dtype.kind in 'OUS':
                out[o.name].append(str(v.ravel()[0]))
            elif o.name.endswith('label') or o.name == 'label':
                out[o.name].append(int(v.ravel()[0]))
            else:
                out[o.name].append([float(p) for p in v.ravel()])
    return out


def write_rows(name, rows, input_names, split, expected=None, columns=COLUMNS):
    """`expected`: the outputs by name from scikit-learn, used when onnxruntime is missing."""
    if not wanted(name):
        return
    cell = lambda v: v if isinstance(v, str) else None if v is None or (isinstance(v, float) and np.isnan(v)) else float(v)
    with open(os.path.join(OUT, f'{name}.inputs.json'), 'w') as f:
        json.dump({'columns': columns, 'inputs': input_names, 'rows': [[cell(v) for v in r] for r in rows]}, f, indent=1)
    if ort is None and expected is None:
        raise SystemExit(f'{name}: onnxruntime is not importable and no scikit-learn outputs were given')
    out = run_ort(name, rows, input_names, split) if ort is not None else expected
    with open(os.path.join(OUT, f'{name}.expected.json'), 'w') as f:
        json.dump(out, f, indent=1)


def sk_expected(pipe, X, label_key, prob_key):
    """Labels and class probabilities from scikit-learn (float64), as onnxruntime would give them."""
    labels = pipe.predict(X)
    lab = [str(v) if isinstance(v, str) else int(v) for v in labels]
    return {label_key: lab, prob_key: [[float(p) for p in row] for row in pipe.predict_proba(X)]}


def main():
    os.makedirs(OUT, exist_ok=True)
    X, score = credit_data(600)
    Xt, _ = credit_data(20, seed=99)
    one = [('input', 0, 4)]
    finput = lambda: [helper.make_tensor_value_info('input', TensorProto.FLOAT, [None, 4])]

    # 1. StandardScaler + LogisticRegression, binary, int labels, zipmap off.
    y2 = (score > np.median(score)).astype(int)
    p = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y2)
    nodes, outs = binary_logistic(p[0], p[1], [0, 1], 'input', zipmap=False)
    finish('logreg_binary', nodes, finput(), outs, 'StandardScaler + LogisticRegression (approve = 1)')
    write_rows('logreg_binary', Xt, ['input'], [(0, 4)])

    # 2. The same with string labels and ZipMap on (skl2onnx's default).
    ys = np.where(y2 == 1, 'approve', 'decline')
    p = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, ys)
    nodes, outs = binary_logistic(p[0], p[1], [str(c) for c in p[1].classes_], 'input', zipmap=True)
    finish('logreg_binary_zipmap', nodes, finput(), outs, 'StandardScaler + LogisticRegression, string labels, ZipMap')
    write_rows('logreg_binary_zipmap', Xt, ['input'], [(0, 4)])

    # 3. StandardScaler + multinomial LogisticRegression, 3 risk classes: SOFTMAX.
    y3 = np.digitize(score, np.quantile(score, [1 / 3, 2 / 3]))
    names = np.array(['high_risk', 'medium_risk', 'low_risk'])[y3]
    p = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, names)
    labels = [str(c) for c in p[1].classes_]
    nodes = [scaler_node(p[0], 'input', 'variable'), classifier_node(p[1].coef_, p[1].intercept_, labels, 'SOFTMAX', 'variable')]
    nodes.append(helper.make_node('Identity', ['probability_tensor'], ['probabilities'], name='ProbIdentity'))
    finish('logreg_3class', nodes, finput(), outputs_with_zipmap(labels, False, nodes), 'StandardScaler + LogisticRegression, 3 classes')
    write_rows('logreg_3class', Xt, ['input'], [(0, 4)])

    # 4. LinearRegression on raw units (a credit limit), on 3 selected columns (ArrayFeatureExtractor).
    cols = [0, 1, 3]
    limit = 0.25 * X[:, 0] - 0.4 * X[:, 1] + 300 * X[:, 3] + 5_000
    lin = LinearRegression().fit(X[:, cols], limit)
    idx = helper.make_tensor('columns', TensorProto.INT64, [len(cols)], cols)
    nodes = [
        helper.make_node('ArrayFeatureExtractor', ['input', 'columns'], ['selected'], name='ArrayFeatureExtractor', domain='ai.onnx.ml'),
        helper.make_node('LinearRegressor', ['selected'], ['variable'], name='LinearRegressor', domain='ai.onnx.ml',
                         coefficients=f32(lin.coef_), intercepts=f32([lin.intercept_]), targets=1, post_transform='NONE'),
    ]
    graph_out = [helper.make_tensor_value_info('variable', TensorProto.FLOAT, [None, 1])]
    g = helper.make_graph(nodes, 'linreg_limit', finput(), graph_out, initializer=[idx])
    model = helper.make_model(g, opset_imports=OPSETS, producer_name='skl2onnx-layout (scripts/make-sklearn-fixtures.py)', ir_version=8)
    onnx.checker.check_model(model)
    if wanted('linreg_limit'):
        with open(os.path.join(OUT, 'linreg_limit.onnx'), 'wb') as f:
            f.write(model.SerializeToString())
    write_rows('linreg_limit', Xt, ['input'], [(0, 4)])

    # 5. StandardScaler + LinearSVC, binary: LinearClassifier with post_transform NONE (raw scores), ZipMap on.
    p = make_pipeline(StandardScaler(), LinearSVC()).fit(X, y2)
    coef = np.vstack([-p[1].coef_, p[1].coef_])
    b = np.concatenate([-p[1].intercept_, p[1].intercept_])
    nodes = [scaler_node(p[0], 'input', 'variable'), classifier_node(coef, b, [0, 1], 'NONE', 'variable')]
    nodes.append(helper.make_node('Identity', ['probability_tensor'], ['probabilities'], name='ScoreIdentity'))
    finish('linear_svc', nodes, finput(), outputs_with_zipmap([0, 1], True, nodes), 'StandardScaler + LinearSVC')
    write_rows('linear_svc', Xt, ['input'], [(0, 4)])

    # 6. One graph input per column (a bank's feature table), merged by FeatureVectorizer,
    #    then StandardScaler + LogisticRegression with one coefficient row (LOGISTIC).
    p = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y2)
    scaler4 = p[0]
    ins = [helper.make_tensor_value_info(c, TensorProto.FLOAT, [None, 1]) for c in COLUMNS]
    nodes = [
        helper.make_node('FeatureVectorizer', COLUMNS, ['merged'], name='FeatureVectorizer', domain='ai.onnx.ml', inputdimensions=[1, 1, 1, 1]),
        scaler_node(p[0], 'merged', 'variable'),
        classifier_node(p[1].coef_, p[1].intercept_, [0, 1], 'LOGISTIC', 'variable'),
    ]
    nodes.append(helper.make_node('Identity', ['probability_tensor'], ['probabilities'], name='ProbIdentity'))
    finish('multi_input', nodes, ins, outputs_with_zipmap([0, 1], False, nodes), 'Four column inputs, one coefficient row')
    write_rows('multi_input', Xt, COLUMNS, [(0, 1), (1, 2), (2, 3), (3, 4)])

    # 7. StandardScaler + SVC(kernel='linear'), binary: SVMClassifier. onnxruntime labels
    #    class 0 when sum_j coef_j <x, sv_j> + rho > 0 (libsvm's pair order), so the
    #    converter negates scikit-learn's dual coefficients and intercept.
    p = make_pipeline(StandardScaler(), SVC(kernel='linear')).fit(X[:300], ys[:300])
    svc = p[1]
    labels = [str(c) for c in svc.classes_]
    nodes = [
        scaler_node(p[0], 'input', 'variable'),
        helper.make_node('SVMClassifier', ['variable'], ['label', 'probability_tensor'], name='SVMClassifier', domain='ai.onnx.ml',
                         kernel_type='LINEAR', kernel_params=[0.0, 0.0, 3.0], coefficients=f32(-svc.dual_coef_), rho=f32(-svc.intercept_),
                         support_vectors=f32(svc.support_vectors_), vectors_per_class=[int(v) for v in svc.n_support_],
                         classlabels_strings=labels, post_transform='NONE'),
        helper.make_node('Identity', ['probability_tensor'], ['probabilities'], name='ScoreIdentity'),
    ]
    finish('svc_linear', nodes, finput(), outputs_with_zipmap(labels, False, nodes), 'StandardScaler + SVC(kernel=linear)')
    write_rows('svc_linear', Xt, ['input'], [(0, 4)])

    # 8. SVR(kernel='linear') on standardized columns: SVMRegressor (a credit limit in thousands).
    p = make_pipeline(StandardScaler(), SVR(kernel='linear', C=10.0)).fit(X[:300], limit[:300] / 1000)
    svr = p[1]
    nodes = [
        scaler_node(p[0], 'input', 'variable'),
        helper.make_node('SVMRegressor', ['variable'], ['limit'], name='SVMRegressor', domain='ai.onnx.ml',
                         kernel_type='LINEAR', kernel_params=[0.0, 0.0, 3.0], coefficients=f32(svr.dual_coef_), rho=f32(svr.intercept_),
                         support_vectors=f32(svr.support_vectors_), n_supports=len(svr.support_), post_transform='NONE'),
    ]
    finish('svr_linear', nodes, finput(), [helper.make_tensor_value_info('limit', TensorProto.FLOAT, [None, 1])], 'StandardScaler + SVR(kernel=linear)')
    write_rows('svr_linear', Xt, ['input'], [(0, 4)])

    # 10. ColumnTransformer on one input per column, as skl2onnx exports a DataFrame:
    #     the scaled group (income, debt, years_employed) is concatenated, scaled, then
    #     merged with age passed through: the model sees the columns in another order.
    ct = ColumnTransformer([('num', StandardScaler(), [0, 1, 3]), ('age', 'passthrough', [2])])
    p = make_pipeline(ct, LogisticRegression(max_iter=1000)).fit(X, y2)
    sc = p[0].named_transformers_['num']
    lr = p[1]
    ins = [helper.make_tensor_value_info(c, TensorProto.FLOAT, [None, 1]) for c in COLUMNS]
    nodes = [
        helper.make_node('Concat', ['income', 'debt', 'years_employed'], ['num_in'], name='num_concat', axis=1),
        scaler_node(sc, 'num_in', 'num_out', name='num_scaler'),
        helper.make_node('Identity', ['age'], ['age_out'], name='age_passthrough'),
        helper.make_node('Concat', ['num_out', 'age_out'], ['transformed'], name='columns_concat', axis=1),
    ]
    nodes += binary_logistic_nodes(lr, [0, 1], 'transformed')
    finish('column_transformer', nodes, ins, outputs_with_zipmap([0, 1], True, nodes), 'ColumnTransformer(StandardScaler on 3 columns, age passthrough) + LogisticRegression')
    write_rows('column_transformer', Xt, COLUMNS, [(0, 1), (1, 2), (2, 3), (3, 4)])

    # 11. The same on one table input: ArrayFeatureExtractor picks each group's columns.
    cols = helper.make_tensor('num_cols', TensorProto.INT64, [3], [0, 1, 3])
    age_col = helper.make_tensor('age_col', TensorProto.INT64, [1], [2])
    nodes = [
        helper.make_node('ArrayFeatureExtractor', ['input', 'num_cols'], ['num_in'], name='num_columns', domain='ai.onnx.ml'),
        scaler_node(sc, 'num_in', 'num_out', name='num_scaler'),
        helper.make_node('ArrayFeatureExtractor', ['input', 'age_col'], ['age_out'], name='age_column', domain='ai.onnx.ml'),
        helper.make_node('Concat', ['num_out', 'age_out'], ['transformed'], name='columns_concat', axis=1),
    ]
    nodes += binary_logistic_nodes(lr, [0, 1], 'transformed')
    graph = helper.make_graph(nodes, 'column_transformer_table', finput(), outputs_with_zipmap([0, 1], False, nodes), initializer=[cols, age_col])
    model = helper.make_model(graph, opset_imports=OPSETS, producer_name='skl2onnx-layout (scripts/make-sklearn-fixtures.py)', ir_version=8)
    onnx.checker.check_model(model)
    if wanted('column_transformer_table'):
        with open(os.path.join(OUT, 'column_transformer_table.onnx'), 'wb') as f:
            f.write(model.SerializeToString())
    write_rows('column_transformer_table', Xt, ['input'], [(0, 4)])

    categorical_fixtures()
    imputer_fixture()
    ordinal_fixture()
    binarizer_normalizer_fixtures(X, y2, Xt)
    mlp_fixtures()

    # 9. Refused: a Binarizer with a NaN threshold and an RBF SVM, between a supported
    #    Normalizer(L2) and a supported TreeEnsembleClassifier, in one graph.
    nodes = [
        scaler_node(scaler4, 'input', 'scaled'),
        helper.make_node('Normalizer', ['scaled'], ['normed'], name='norm_l2', domain='ai.onnx.ml', norm='L2'),
        helper.make_node('Binarizer', ['normed'], ['bin'], name='binarize', domain='ai.onnx.ml', threshold=float('nan')),
        helper.make_node('SVMRegressor', ['bin'], ['svr'], name='svr_rbf', domain='ai.onnx.ml', kernel_type='RBF', kernel_params=[0.1, 0.0, 3.0],
                         coefficients=[1.0], support_vectors=[0.0, 0.0, 0.0, 0.0], n_supports=1, rho=[0.0]),
        helper.make_node('TreeEnsembleClassifier', ['svr'], ['label', 'probabilities'], name='trees', domain='ai.onnx.ml',
                         classlabels_int64s=[0, 1], nodes_treeids=[0], nodes_nodeids=[0], nodes_featureids=[0], nodes_values=[0.0],
                         nodes_modes=['LEAF'], nodes_truenodeids=[0], nodes_falsenodeids=[0], class_treeids=[0], class_nodeids=[0],
                         class_ids=[1], class_weights=[1.0]),
    ]
    finish('refused_trees', nodes, finput(), [helper.make_tensor_value_info('label', TensorProto.INT64, [None]),
                                              helper.make_tensor_value_info('probabilities', TensorProto.FLOAT, [None, 2])],
           'Normalizer L2, Binarizer (NaN threshold), an RBF SVMRegressor, TreeEnsembleClassifier: the Binarizer and the SVM refused')


HOME = ['MORTGAGE', 'OWN', 'RENT']
PURPOSE = ['car', 'debt_consolidation', 'education', 'home_improvement', 'medical']
TERMS = [36, 60]
CAT_COLUMNS = ['income', 'debt', 'age', 'home_ownership', 'purpose', 'term']


def categorical_data(n, seed=11):
    """Credit applicants in raw units with categorical columns (strings, and an integer term in months)."""
    X, score = credit_data(n, seed)
    rng = np.random.default_rng(seed + 1)
    home = rng.choice(HOME, n, p=[0.4, 0.2, 0.4])
    purpose = rng.choice(PURPOSE, n)
    term = rng.choice(TERMS, n, p=[0.7, 0.3])
    score = score + np.select([home == 'OWN', home == 'RENT'], [0.8, -0.6], 0.0) + np.where(purpose == 'debt_consolidation', -0.7, 0.0) + np.where(purpose == 'medical', -0.4, 0.0) + np.where(term == 60, -0.5, 0.0)
    rows = np.empty((n, 6), dtype=object)
    rows[:, 0], rows[:, 1], rows[:, 2] = X[:, 0], X[:, 1], X[:, 2]
    rows[:, 3], rows[:, 4], rows[:, 5] = home, purpose, term.astype(np.int64)
    return rows, score


def column_inputs(names, types):
    return [helper.make_tensor_value_info(c, t, [None, 1]) for c, t in zip(names, types)]


def categorical_fixtures():
    """ColumnTransformer(StandardScaler on income, debt, age; OneHotEncoder on home_ownership,
    purpose (strings) and term (int64)) + LogisticRegression, one graph input per column,
    as skl2onnx converts a DataFrame: numeric columns concatenated and scaled, each
    categorical column one-hot encoded (OneHotEncoder node, output [N, 1, k]), the
    encodings concatenated on the last axis and reshaped to [N, K], then both groups
    concatenated."""
    from sklearn.preprocessing import OneHotEncoder
    rows, score = categorical_data(800)
    test, _ = categorical_data(20, seed=101)
    y = (score > np.median(score)).astype(int)
    ct = ColumnTransformer([('num', StandardScaler(), [0, 1, 2]), ('cat', OneHotEncoder(handle_unknown='error'), [3, 4, 5])])
    pipe = make_pipeline(ct, LogisticRegression(max_iter=2000)).fit(rows, y)
    sc = pipe[0].named_transformers_['num']
    ohe = pipe[0].named_transformers_['cat']
    lr = pipe[1]
    ins = column_inputs(CAT_COLUMNS, [TensorProto.FLOAT] * 3 + [TensorProto.STRING, TensorProto.STRING, TensorProto.INT64])
    nodes = [
        helper.make_node('Concat', ['income', 'debt', 'age'], ['num_in'], name='num_concat', axis=1),
        scaler_node(sc, 'num_in', 'num_out', name='num_scaler'),
    ]
    ohe_outs = []
    total = 0
    for col, cats in zip(['home_ownership', 'purpose', 'term'], ohe.categories_):
        src = col
        if col == 'term':
            nodes.append(helper.make_node('Cast', [col], [f'{col}_cast'], name=f'{col}_cast', to=TensorProto.INT64))
            src = f'{col}_cast'
            kw = {'cats_int64s': [int(c) for c in cats]}
        else:
            kw = {'cats_strings': [str(c) for c in cats]}
        nodes.append(helper.make_node('OneHotEncoder', [src], [f'{col}_ohe'], name=f'{col}_OneHotEncoder', domain='ai.onnx.ml', zeros=0, **kw))
        ohe_outs.append(f'{col}_ohe')
        total += len(cats)
    shape = helper.make_tensor('cat_shape', TensorProto.INT64, [2], [-1, total])
    nodes += [
        helper.make_node('Concat', ohe_outs, ['cat_concat'], name='cat_concat', axis=-1),
        helper.make_node('Reshape', ['cat_concat', 'cat_shape'], ['cat_out'], name='cat_reshape'),
        helper.make_node('Concat', ['num_out', 'cat_out'], ['transformed'], name='columns_concat', axis=1),
    ]
    nodes += binary_logistic_nodes(lr, [0, 1], 'transformed')
    outs = outputs_with_zipmap([0, 1], True, nodes)
    finish('credit_categorical', nodes, ins, outs, 'ColumnTransformer(StandardScaler, OneHotEncoder on strings and int64) + LogisticRegression', [shape])
    split = [(i, i + 1) for i in range(6)]
    write_rows('credit_categorical', test.tolist(), CAT_COLUMNS, split, sk_expected(pipe, test, 'output_label', 'output_probability'), columns=CAT_COLUMNS)


def imputer_fixture():
    """SimpleImputer(median) + StandardScaler + LogisticRegression on one table of four
    numeric columns with missing values (NaN): Imputer, Scaler, LinearClassifier."""
    from sklearn.impute import SimpleImputer
    X, score = credit_data(600, seed=21)
    rng = np.random.default_rng(22)
    Xm = X.copy()
    Xm[rng.random(X.shape) < 0.1] = np.nan
    Xt, _ = credit_data(20, seed=23)
    # Every column missing in some test row, and a row missing two.
    for r, c in [(0, 0), (1, 1), (2, 2), (3, 3), (4, 1), (4, 3), (7, 0), (12, 2)]:
        Xt[r, c] = np.nan
    y = (score > np.median(score)).astype(int)
    pipe = make_pipeline(SimpleImputer(strategy='median'), StandardScaler(), LogisticRegression()).fit(Xm, y)
    imp = pipe[0]
    nodes = [
        helper.make_node('Imputer', ['input'], ['imputed'], name='Imputer', domain='ai.onnx.ml', imputed_value_floats=f32(imp.statistics_), replaced_value_float=float('nan')),
        scaler_node(pipe[1], 'imputed', 'variable'),
    ]
    lr = pipe[2]
    nodes += [
        classifier_node(np.vstack([-lr.coef_, lr.coef_]), np.concatenate([-lr.intercept_, lr.intercept_]), [0, 1], 'LOGISTIC', 'variable'),
        helper.make_node('Normalizer', ['probability_tensor'], ['probabilities'], name='Normalizer', domain='ai.onnx.ml', norm='L1'),
    ]
    outs = outputs_with_zipmap([0, 1], False, nodes)
    finish('credit_imputer', nodes, [helper.make_tensor_value_info('input', TensorProto.FLOAT, [None, 4])], outs, 'SimpleImputer(median) + StandardScaler + LogisticRegression')
    write_rows('credit_imputer', Xt.tolist(), ['input'], [(0, 4)], sk_expected(pipe, Xt, 'label', 'probabilities'))


def ordinal_fixture():
    """ColumnTransformer(OrdinalEncoder on home_ownership and purpose, StandardScaler on
    income, debt, age) + LogisticRegression. skl2onnx's OrdinalEncoder: the string columns
    concatenated, each picked by ArrayFeatureExtractor and mapped by a LabelEncoder
    (keys_strings -> values_int64s), reshaped, concatenated and cast to float."""
    from sklearn.preprocessing import OrdinalEncoder
    rows, score = categorical_data(800, seed=31)
    test, _ = categorical_data(20, seed=131)
    rows, test = rows[:, [0, 1, 2, 3, 4]], test[:, [0, 1, 2, 3, 4]]
    names = CAT_COLUMNS[:5]
    y = (score > np.median(score)).astype(int)
    ct = ColumnTransformer([('ord', OrdinalEncoder(), [3, 4]), ('num', StandardScaler(), [0, 1, 2])])
    pipe = make_pipeline(ct, LogisticRegression(max_iter=2000)).fit(rows, y)
    enc = pipe[0].named_transformers_['ord']
    sc = pipe[0].named_transformers_['num']
    ins = column_inputs(names, [TensorProto.FLOAT] * 3 + [TensorProto.STRING] * 2)
    inits = [helper.make_tensor('shape_col', TensorProto.INT64, [2], [-1, 1])]
    nodes = [helper.make_node('Concat', ['home_ownership', 'purpose'], ['ord_in'], name='ord_concat', axis=1)]
    outs = []
    for i, cats in enumerate(enc.categories_):
        inits.append(helper.make_tensor(f'index{i}', TensorProto.INT64, [], [i]))
        nodes += [
            helper.make_node('ArrayFeatureExtractor', ['ord_in', f'index{i}'], [f'feature_column{i}'], name=f'ArrayFeatureExtractor{i}', domain='ai.onnx.ml'),
            helper.make_node('LabelEncoder', [f'feature_column{i}'], [f'label_encoder{i}'], name=f'LabelEncoder{i}', domain='ai.onnx.ml',
                             keys_strings=[str(c) for c in cats], values_int64s=list(range(len(cats)))),
            helper.make_node('Reshape', [f'label_encoder{i}', 'shape_col'], [f'ordinal_output{i}'], name=f'Reshape{i}'),
        ]
        outs.append(f'ordinal_output{i}')
    nodes += [
        helper.make_node('Concat', outs, ['ord_concat_result'], name='ord_result', axis=1),
        helper.make_node('Cast', ['ord_concat_result'], ['ord_out'], name='ord_cast', to=TensorProto.FLOAT),
        helper.make_node('Concat', ['income', 'debt', 'age'], ['num_in'], name='num_concat', axis=1),
        scaler_node(sc, 'num_in', 'num_out', name='num_scaler'),
        helper.make_node('Concat', ['ord_out', 'num_out'], ['transformed'], name='columns_concat', axis=1),
    ]
    nodes += binary_logistic_nodes(pipe[1], [0, 1], 'transformed')
    gouts = outputs_with_zipmap([0, 1], False, nodes)
    finish('credit_ordinal', nodes, ins, gouts, 'ColumnTransformer(OrdinalEncoder as LabelEncoders, StandardScaler) + LogisticRegression', inits)
    write_rows('credit_ordinal', test.tolist(), names, [(i, i + 1) for i in range(5)], sk_expected(pipe, test, 'label', 'probabilities'), columns=names)


def binarizer_normalizer_fixtures(X, y2, Xt):
    """skl2onnx's Binarizer (ai.onnx.ml Binarizer, threshold) and Normalizer (ai.onnx.ml
    Normalizer, norm MAX / L1 / L2) before a binary LogisticRegression."""
    from sklearn.preprocessing import Binarizer, Normalizer
    finput = lambda n: [helper.make_tensor_value_info('input', TensorProto.FLOAT, [None, n])]

    def binarizer_node(b, inp, out):
        return helper.make_node('Binarizer', [inp], [out], name='Binarizer', domain='ai.onnx.ml', threshold=float(b.threshold))

    def normalizer_node(nm, inp, out):
        return helper.make_node('Normalizer', [inp], [out], name='Normalizer_' + nm.norm, domain='ai.onnx.ml', norm=nm.norm.upper())

    def lr_nodes(lr, inp):
        # binary_logistic_nodes names its Normalizer(L1) 'Normalizer': renamed apart from ours.
        nodes = binary_logistic_nodes(lr, [0, 1], inp)
        nodes[1].name = 'ProbNormalizer'
        return nodes

    # StandardScaler, then Binarizer(0.25) on the standardized credit columns.
    p = make_pipeline(StandardScaler(), Binarizer(threshold=0.25), LogisticRegression()).fit(X, y2)
    nodes = [scaler_node(p[0], 'input', 'scaled'), binarizer_node(p[1], 'scaled', 'binary')] + lr_nodes(p[2], 'binary')
    finish('binarizer_scaled', nodes, finput(4), outputs_with_zipmap([0, 1], False, nodes), 'StandardScaler + Binarizer(0.25) + LogisticRegression')
    write_rows('binarizer_scaled', Xt, ['input'], [(0, 4)], sk_expected(p, Xt, 'label', 'probabilities'))

    # Binarizer(0.5) on raw columns: late payments, inquiries, delinquent accounts (counts)
    # and a revolving balance in dollars: "has any".
    cols = ['late_payments', 'inquiries', 'delinquent_accounts', 'balance']

    def counts(n, seed):
        rng = np.random.default_rng(seed)
        late = rng.poisson(0.8, n).astype(float)
        inq = rng.poisson(1.5, n).astype(float)
        delinquent = rng.poisson(0.3, n).astype(float)
        balance = np.where(rng.random(n) < 0.35, 0.0, rng.uniform(100, 180_000, n).round(0))
        Xc = np.stack([late, inq, delinquent, balance], axis=1)
        score = -0.9 * (late > 0) - 0.4 * (inq > 0) - 1.2 * (delinquent > 0) + 0.5 * (balance > 0) + rng.normal(0.6, 0.7, n)
        return Xc, (score > 0).astype(int)

    Xc, yc = counts(800, 41)
    Xct, _ = counts(20, 43)
    p = make_pipeline(Binarizer(threshold=0.5), LogisticRegression()).fit(Xc, yc)
    nodes = [binarizer_node(p[0], 'input', 'binary')] + lr_nodes(p[1], 'binary')
    finish('binarizer_raw', nodes, finput(4), outputs_with_zipmap([0, 1], False, nodes), 'Binarizer(0.5) on raw counts and a balance in dollars + LogisticRegression')
    write_rows('binarizer_raw', Xct, ['input'], [(0, 4)], sk_expected(p, Xct, 'label', 'probabilities'), columns=cols)

    # Monthly spending in five categories (hundreds of dollars, non-negative): a risk flag
    # from the shares of gambling and cash advances.
    spend_cols = ['groceries', 'rent', 'travel', 'gambling', 'cash_advance']

    def spending(n, seed):
        rng = np.random.default_rng(seed)
        S = np.stack([rng.uniform(2, 12, n), rng.uniform(5, 30, n), rng.exponential(3, n), rng.exponential(1.5, n), rng.exponential(1.0, n)], axis=1)
        S = np.minimum(S, 45).round(2)
        share = (S[:, 3] + S[:, 4]) / S.sum(axis=1)
        return S, (share + rng.normal(0, 0.03, n) > np.median(share)).astype(int)

    S, ys = spending(800, 51)
    St, _ = spending(20, 53)
    St[5] = 0.0  # a zero row: both libraries leave it as it is
    for norm in ['l1', 'max']:
        p = make_pipeline(Normalizer(norm=norm), LogisticRegression(C=100.0)).fit(S, ys)
        name = f'normalizer_{norm}'
        nodes = [normalizer_node(p[0], 'input', 'normed')] + lr_nodes(p[1], 'normed')
        finish(name, nodes, finput(5), outputs_with_zipmap([0, 1], False, nodes), f'Normalizer({norm!r}) + LogisticRegression on spending amounts')
        write_rows(name, St, ['input'], [(0, 5)], sk_expected(p, St, 'label', 'probabilities'), columns=spend_cols)

    # StandardScaler, then Normalizer('l2') (rows of mixed signs), on the credit columns.
    p = make_pipeline(StandardScaler(), Normalizer(norm='l2'), LogisticRegression()).fit(X, y2)
    nodes = [scaler_node(p[0], 'input', 'scaled'), normalizer_node(p[1], 'scaled', 'normed')] + lr_nodes(p[2], 'normed')
    finish('normalizer_l2', nodes, finput(4), outputs_with_zipmap([0, 1], False, nodes), "StandardScaler + Normalizer('l2') + LogisticRegression")
    write_rows('normalizer_l2', Xt, ['input'], [(0, 4)], sk_expected(p, Xt, 'label', 'probabilities'))


MLP_COLUMNS = ['income', 'debt', 'age', 'years_employed', 'credit_lines', 'late_payments']
RISK_COLUMNS = ['debt_to_income', 'utilization', 'late_payments', 'years_employed_decades']


def mlp_credit_data(n, seed):
    """Six credit columns in raw units; approve = 1."""
    X4, score = credit_data(n, seed)
    rng = np.random.default_rng(seed + 1000)
    lines = rng.integers(0, 15, n).astype(float)
    late = rng.poisson(0.7, n).astype(float)
    score = score + 0.1 * np.minimum(lines, 8) - 0.6 * late - 0.3 * (lines == 0)
    return np.column_stack([X4, lines, late]), (score > np.median(score)).astype(int)


def mlp_risk_data(n, seed):
    """Four columns in units near 1 (ratios, a count, years / 10); three risk tiers 0, 1, 2."""
    rng = np.random.default_rng(seed)
    dti = rng.uniform(0, 0.9, n).round(3)
    util = rng.uniform(0, 1, n).round(3)
    late = rng.poisson(0.8, n).astype(float)
    years = rng.uniform(0, 3.5, n).round(2)
    score = -2.5 * dti - 1.5 * util ** 2 - 0.5 * late + 0.4 * years + rng.normal(0, 0.3, n)
    y = np.digitize(score, np.quantile(score, [1 / 3, 2 / 3]))
    return np.column_stack([dti, util, late, years]), 2 - y  # 0 low risk .. 2 high risk


class Names:
    """skl2onnx's Scope naming: a seed, then seed1, seed2, ... (variables and operators apart)."""

    def __init__(self, taken=()):
        self.taken = set(taken)

    def __call__(self, seed):
        name, i = seed, 0
        while name in self.taken:
            i += 1
            name = f'{seed}{i}'
        self.taken.add(name)
        return name


def mlp_classifier_nodes(mlp, inp, var, op):
    """skl2onnx operator_converters/multilayer_perceptron.py, convert_sklearn_mlp_classifier
    (float input, integer classes, not multilabel): outputs 'label' and 'probabilities'."""
    act = {'identity': 'Identity', 'tanh': 'Tanh', 'logistic': 'Sigmoid', 'relu': 'Relu', 'softmax': 'Softmax'}
    nodes, inits = [], []
    argmax_output = var('argmax_output')
    afe_result = var('array_feature_extractor_result')
    # _predict: the input cast to the float type first.
    cast_input = var('cast_input')
    nodes.append(helper.make_node('Cast', [inp], [cast_input], name=op('Cast'), to=TensorProto.FLOAT))
    # _forward_pass
    out_act = var('out_activations_result')
    prev = cast_input
    for i in range(mlp.n_layers_ - 1):
        coef, icpt, mul, add = var('coefficient'), var('intercepts'), var('mul_result'), var('add_result')
        inits.append(helper.make_tensor(coef, TensorProto.FLOAT, list(mlp.coefs_[i].shape), f32(mlp.coefs_[i])))
        inits.append(helper.make_tensor(icpt, TensorProto.FLOAT, [1, len(mlp.intercepts_[i])], f32(mlp.intercepts_[i])))
        nodes.append(helper.make_node('MatMul', [prev, coef], [mul], name=op('MatMul')))
        nodes.append(helper.make_node('Add', [mul, icpt], [add], name=op('Add')))
        if i + 1 != mlp.n_layers_ - 1:
            nxt = var('next_activations')
            nodes.append(helper.make_node(act[mlp.activation], [add], [nxt], name=op(act[mlp.activation])))
            prev = nxt
    # The output activation's node is named after the hidden activation, as skl2onnx does.
    nodes.append(helper.make_node(act[mlp.out_activation_], [add], [out_act], name=op(act[mlp.activation])))
    classes = mlp.classes_
    assert np.issubdtype(classes.dtype, np.signedinteger), classes.dtype
    if len(classes) == 2:
        unity, neg = var('unity'), var('negative_class_proba')
        inits.append(helper.make_tensor(unity, TensorProto.FLOAT, [], [1.0]))
        nodes.append(helper.make_node('Sub', [unity, out_act], [neg], name=op('Sub')))
        nodes.append(helper.make_node('Concat', [neg, out_act], ['probabilities'], name=op('Concat'), axis=1))
    else:
        nodes.append(helper.make_node('Identity', [out_act], ['probabilities'], name=op('Identity')))
    cls = var('classes')
    inits.append(helper.make_tensor(cls, TensorProto.INT32, [len(classes)], [int(c) for c in classes]))
    nodes.append(helper.make_node('ArgMax', ['probabilities'], [argmax_output], name=op('ArgMax'), axis=1))
    nodes.append(helper.make_node('ArrayFeatureExtractor', [cls, argmax_output], [afe_result], name=op('ArrayFeatureExtractor'), domain='ai.onnx.ml'))
    reshaped, shape = var('reshaped_result'), var('shape_tensor')
    inits.append(helper.make_tensor(shape, TensorProto.INT64, [1], [-1]))
    nodes.append(helper.make_node('Reshape', [afe_result, shape], [reshaped], name=op('Reshape')))
    nodes.append(helper.make_node('Cast', [reshaped], ['label'], name=op('Cast'), to=TensorProto.INT64))
    return nodes, inits


def check_mlp(name, pipe, Xt):
    """onnxruntime on the written model against scikit-learn: labels equal, probabilities within 1e-5."""
    if ort is None:
        raise SystemExit(f'{name}: the MLP fixtures are checked with onnxruntime, which is not importable')
    sess = ort.InferenceSession(os.path.join(OUT, f'{name}.onnx'))
    label, probs = sess.run(['output_label', 'output_probability'], {'input': np.asarray(Xt, dtype=np.float32)})
    classes = [int(c) for c in pipe.classes_]
    got = np.array([[row[c] for c in classes] for row in probs])
    want = pipe.predict_proba(Xt)
    diff = float(np.max(np.abs(got - want)))
    same = np.array_equal(np.asarray(label), pipe.predict(Xt))
    print(f'{name}: {len(Xt)} rows, max |p_onnxruntime - p_sklearn| = {diff:.3g}, labels equal: {same}, '
          f'sklearn labels {np.bincount(pipe.predict(Xt), minlength=len(classes)).tolist()}')
    if not same or not diff < 1e-5:
        raise SystemExit(f'{name}: onnxruntime disagrees with scikit-learn (max diff {diff}, labels equal {same})')


def mlp_fixtures():
    """MLPClassifier as skl2onnx converts it (see the module docstring), ZipMap on."""
    import warnings
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    warnings.simplefilter('ignore', ConvergenceWarning)
    finput = lambda n: [helper.make_tensor_value_info('input', TensorProto.FLOAT, [None, n])]

    # StandardScaler + MLPClassifier((16, 8), relu), binary: Scaler first (its output
    # 'variable', as skl2onnx names a pipeline's first intermediate variable).
    X, y = mlp_credit_data(1200, seed=61)
    Xt, _ = mlp_credit_data(20, seed=63)
    pipe = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(16, 8), activation='relu', alpha=1e-3, max_iter=1000, random_state=0)).fit(X, y)
    var = Names(['input', 'variable', 'label', 'probabilities', 'output_label', 'output_probability'])
    op = Names(['Scaler'])
    nodes, inits = mlp_classifier_nodes(pipe[1], 'variable', var, op)
    nodes = [scaler_node(pipe[0], 'input', 'variable')] + nodes
    outs = outputs_with_zipmap([0, 1], True, nodes)
    finish('mlp_binary', nodes, finput(6), outs, 'StandardScaler + MLPClassifier((16, 8), relu), two classes (approve = 1), skl2onnx layout, ZipMap', inits)
    write_rows('mlp_binary', Xt, ['input'], [(0, 6)], sk_expected(pipe, Xt, 'output_label', 'output_probability'), columns=MLP_COLUMNS)
    if wanted('mlp_binary'):
        check_mlp('mlp_binary', pipe, Xt)

    # MLPClassifier((12,), relu), three risk tiers, no scaler: Softmax, Identity.
    X, y = mlp_risk_data(1200, seed=71)
    Xt, _ = mlp_risk_data(20, seed=73)
    mlp = MLPClassifier(hidden_layer_sizes=(12,), activation='relu', alpha=1e-3, max_iter=2000, random_state=0).fit(X, y)
    var = Names(['input', 'label', 'probabilities', 'output_label', 'output_probability'])
    nodes, inits = mlp_classifier_nodes(mlp, 'input', var, Names())
    outs = outputs_with_zipmap([0, 1, 2], True, nodes)
    finish('mlp_3class', nodes, finput(4), outs, 'MLPClassifier((12,), relu), three risk tiers (0 low .. 2 high), no scaler, skl2onnx layout, ZipMap', inits)
    write_rows('mlp_3class', Xt, ['input'], [(0, 4)], sk_expected(mlp, Xt, 'output_label', 'output_probability'), columns=RISK_COLUMNS)
    if wanted('mlp_3class'):
        check_mlp('mlp_3class', mlp, Xt)


if __name__ == '__main__':
    main()
