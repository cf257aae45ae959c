-- id: price_markup
-- category: price_anomaly
-- severity: medium
-- title_zh: 结算单价远高于采购价（超标准收费）
-- title_en: Billed unit price far above the purchase price
-- why_zh: 医保按药店上传的价格支付。结算单价超过平均采购价的设定倍数（默认1.5倍，一些医保局的规则），多收的部分是基金损失。
-- why_en: The fund pays the price the pharmacy uploads. A billed unit price above a multiple (default 1.5, one bureau's rule) of the average purchase price makes the fund pay the excess.
-- message_zh: {store} {period} 商品 {item_id}（{item_name}）结算单价 {bill_unit} 元/单位，平均采购价 {buy_unit} 元/单位，为 {ratio} 倍，涉及 {n_lines} 笔结算
-- message_en: item {item_id} ({item_name}) at {store} in {period}: billed {bill_unit} yuan per unit against an average purchase price of {buy_unit} ({ratio} times) on {n_lines} settlements
-- param max_ratio = 1.5  # billed unit price / average purchase unit price above which a line is reported
-- param_zh max_ratio: 结算单价/平均采购单价超过此比值即报
WITH buy AS (
    SELECT store, item_id, SUM(amount_fen) * 1.0 / SUM(qty) AS unit_fen
    FROM purchases WHERE deleted = 0 AND is_return = 0 AND qty > 0 AND amount_fen > 0
    GROUP BY store, item_id
), chain_buy AS (
    SELECT item_id, SUM(amount_fen) * 1.0 / SUM(qty) AS unit_fen
    FROM purchases WHERE deleted = 0 AND is_return = 0 AND qty > 0 AND amount_fen > 0
    GROUP BY item_id
), lines AS (
    SELECT m.*, COALESCE(b.unit_fen, c.unit_fen) AS buy_fen, m.amount_fen * 1.0 / m.qty AS bill_fen
    FROM v_line_money m
    LEFT JOIN buy b ON b.store = m.store AND b.item_id = m.item_id
    LEFT JOIN chain_buy c ON c.item_id = m.item_id
    WHERE m.qty > 0 AND m.amount_fen > 0
      AND NOT EXISTS (SELECT 1 FROM settlements r WHERE r.is_reversal = 1 AND r.deleted = 0 AND r.orig_setl_id = m.setl_id AND r.store = m.store)
)
SELECT l.store, l.month AS period, MIN(l.day) AS day_first, MAX(l.day) AS day_last, l.item_id, l.item_id AS items,
       MAX(l.item_name) AS item_name, COUNT(*) AS n_lines,
       ROUND(SUM(l.amount_fen) * 1.0 / SUM(l.qty) / 100, 2) AS bill_unit, ROUND(MAX(l.buy_fen) / 100, 2) AS buy_unit,
       ROUND(SUM(l.amount_fen) * 1.0 / SUM(l.qty) / MAX(l.buy_fen), 2) AS ratio,
       GROUP_CONCAT(DISTINCT l.setl_id) AS setl_ids, GROUP_CONCAT(DISTINCT l.psn_no) AS psn_nos,
       CAST(SUM(l.insured_fen * (l.bill_fen - :max_ratio * l.buy_fen) / l.bill_fen) AS INTEGER) AS amount_fen,
       GROUP_CONCAT('settlement_lines:' || l.id) AS evidence
FROM lines l
WHERE l.buy_fen > 0 AND l.bill_fen > :max_ratio * l.buy_fen
GROUP BY l.store, l.month, l.item_id
