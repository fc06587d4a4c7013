const crypto = require('crypto');
function validateWebhook(payload, signature, secret) {
const expectedSignature = crypto
.createHmac('sha256', secret)
.update(payload)
.digest('hex');
return signature === `sha256=${expectedSignature}`;
}
app.post('/webhooks/statuspageone', (req, res) => {
const signature = req.headers['x-statuspageone-signature'];
const payload = JSON.stringify(req.body);
if (!validateWebhook(payload, signature, process.env.WEBHOOK_SECRET)) {
return res.status(401).json({ error: 'Invalid signature' });
}
// Process verified webhook
handleWebhook(req.body);
res.status(200).json({ received: true });
});
