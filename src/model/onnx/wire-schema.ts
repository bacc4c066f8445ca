/**
 * The protobuf field table of an ONNX file as onnx-proto's ModelProto decoder reads it:
 * per message, each field number's kind (fields it skips are absent), and the wire types
 * a TensorProto field may have. `scan.ts` walks a file by it.
 */

export type Kind =
  | 'str' // string or bytes: one value
  | 'int' // one int64 varint
  | 'i32' // one int32 or enum varint
  | 'f32' // one fixed32
  | 'ints' // repeated varint, packed or not: one value per element
  | 'f32s' // repeated float, packed or not
  | { msg: MessageName };

export type MessageName =
  | 'Model'
  | 'OperatorSetId'
  | 'StringStringEntry'
  | 'TrainingInfo'
  | 'Function'
  | 'Graph'
  | 'TensorAnnotation'
  | 'Node'
  | 'Attribute'
  | 'ValueInfo'
  | 'Type'
  | 'TypeTensor'
  | 'TypeSequence'
  | 'TypeMap'
  | 'TypeOptional'
  | 'Shape'
  | 'Dimension'
  | 'SparseTensor'
  | 'Segment'
  | 'Tensor';

const m = (msg: MessageName): Kind => ({ msg });

/** Field number -> kind, per message (Tensor's data fields are handled by `scanTensor`). */
export const SCHEMA: Record<Exclude<MessageName, 'Tensor'>, Record<number, Kind>> = {
  Model: {
    1: 'int',
    2: 'str',
    3: 'str',
    4: 'str',
    5: 'int',
    6: 'str',
    7: m('Graph'),
    8: m('OperatorSetId'),
    14: m('StringStringEntry'),
    20: m('TrainingInfo'),
    25: m('Function'),
  },
  OperatorSetId: { 1: 'str', 2: 'int' },
  StringStringEntry: { 1: 'str', 2: 'str' },
  TrainingInfo: { 1: m('Graph'), 2: m('Graph'), 3: m('StringStringEntry'), 4: m('StringStringEntry') },
  Function: { 1: 'str', 4: 'str', 5: 'str', 6: 'str', 7: m('Node'), 8: 'str', 9: m('OperatorSetId'), 10: 'str' },
  Graph: {
    1: m('Node'),
    2: 'str',
    5: m('Tensor'),
    10: 'str',
    11: m('ValueInfo'),
    12: m('ValueInfo'),
    13: m('ValueInfo'),
    14: m('TensorAnnotation'),
    15: m('SparseTensor'),
  },
  TensorAnnotation: { 1: 'str', 2: m('StringStringEntry') },
  Node: { 1: 'str', 2: 'str', 3: 'str', 4: 'str', 5: m('Attribute'), 6: 'str', 7: 'str' },
  Attribute: {
    1: 'str',
    2: 'f32',
    3: 'int',
    4: 'str',
    5: m('Tensor'),
    6: m('Graph'),
    7: 'f32s',
    8: 'ints',
    9: 'str',
    10: m('Tensor'),
    11: m('Graph'),
    13: 'str',
    14: m('Type'),
    15: m('Type'),
    20: 'i32',
    21: 'str',
    22: m('SparseTensor'),
    23: m('SparseTensor'),
  },
  ValueInfo: { 1: 'str', 2: m('Type'), 3: 'str' },
  Type: { 1: m('TypeTensor'), 4: m('TypeSequence'), 5: m('TypeMap'), 6: 'str', 8: m('TypeTensor'), 9: m('TypeOptional') },
  TypeTensor: { 1: 'i32', 2: m('Shape') },
  TypeSequence: { 1: m('Type') },
  TypeMap: { 1: 'i32', 2: m('Type') },
  TypeOptional: { 1: m('Type') },
  Shape: { 1: m('Dimension') },
  Dimension: { 1: 'int', 2: 'str', 3: 'str' },
  SparseTensor: { 1: m('Tensor'), 2: m('Tensor'), 3: 'ints' },
  Segment: { 1: 'int', 2: 'int' },
};

/** Bytes per element of each ONNX data type stored as raw_data (0: not fixed-width). */
export const ELEMENT_BYTES: Record<number, number> = { 1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 14: 8, 15: 16, 16: 2 };

/** Wire types each known TensorProto field may have (packed or not for repeated scalars). */
export const TENSOR_WIRE_TYPES: Record<number, number[]> = {
  1: [0, 2],
  2: [0],
  3: [2],
  4: [5, 2],
  5: [0, 2],
  6: [2],
  7: [0, 2],
  8: [2],
  9: [2],
  10: [1, 2],
  11: [0, 2],
  12: [2],
  13: [2],
  14: [0],
};
